#!/bin/bash
# Issue 40, the abstract's "no activation derivatives" claim: P-TNCN with the sign activation (no
# derivative anywhere; the learner never asks for one) on Bouncing MNIST, bouncing_ptncn otherwise
# unchanged (no retuning), seeds 0-2, beside the tanh runs of results/bouncing_mnist_ptncn.json.
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD
python -m nobptt sweep bouncing_ptncn --seeds 0-2 --jobs 2 --threads 1 --set model.act=sign \
  --sweep-dir sweeps/bouncing_mnist_ptncn_sign --out results --name bouncing_mnist_ptncn_sign
