#!/bin/bash
# NARMA10 ESN: spectral radius x leak chosen on held-out NRMSE (seed 0), then seeds 0-2 of the choice, one test read each
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD
labels=""; dirs=""
for sr in 0.5 0.9 1.2; do for leak in 0.3 1.0; do
  d=runs/narma10_esn-sr$sr-leak$leak-s0
  python -m nobptt train narma10_esn --seed 0 --run-dir $d --set model.spectral_radius=$sr --set model.leak=$leak --set train.progress=false 2>&1 | grep final
  labels="$labels,spectral radius $sr leak $leak"; dirs="$dirs $d"
done; done
python -m nobptt report $dirs --name narma10_esn_grid --labels "${labels#,}" --out results --note "NARMA10 ESN grid on the held-out segment (seed 0); the test split is not read here"
# the grid's best (held-out NRMSE) is the experiment file's own setting: seeds 0-2, one test read each
for s in 0 1 2; do
  python -m nobptt train narma10_esn --seed $s --run-dir runs/narma10_esn-s$s --set train.progress=false 2>&1 | grep final
  python -m nobptt eval runs/narma10_esn-s$s --split test --out results/narma10_esn.json 2>&1 | tail -1
done
