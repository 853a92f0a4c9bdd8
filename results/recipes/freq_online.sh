#!/bin/bash
# Issue 43, an online learner training the Phased LSTM: frequency task 1 at 1 ms, 32 units, lr 1e-2
# (the setting in which BPTT learned within 200 batches in the smoke runs of docs/cells.md), 200
# batches (25,000 steps), seed 0: full BPTT, e-prop and SnAp-1, each tested once (sweep).
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD
for learner in bptt eprop snap1; do
  python -m nobptt sweep freq_plstm --seeds 0 --jobs 1 --threads 1 --set model.name=$learner \
    --set model.hidden=32 --set optim.lr=1e-2 --set train.steps=25000 --set train.epoch_steps=2500 \
    --set train.eval_every=5000 --set train.checkpoint_every=5000 \
    --sweep-dir sweeps/freq_online_$learner --out results --name freq_online_$learner || exit $?
done
