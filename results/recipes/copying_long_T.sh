#!/bin/bash
# Issue 41, copying at T = 200 and 300: SAB against the LSTM by truncated BPTT (k = 5) and by full
# BPTT, seeds 0-2, 5,000 updates each (one 64-sequence episode per update), everything else as in
# the experiment files: the T = 100 recipe (copying_sab_long: Adam 1e-3, clip 1; its decay starts at
# update 27,000, so within 5,000 updates the rate is constant) unchanged for every seed and T.
# best.pt is kept on held-out NLL; each seed's best.pt is read on the test split once (sweep).
# Budget: about 5 h of the 2-core machine, two single-thread runs at a time; resumable (rerun it).
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD
U=5000
for T in 200 300; do
  L=$((T + 20))  # steps per episode = per update
  for exp in copying_sab_long copying_lstm_tbptt5 copying_lstm_bptt; do
    python -m nobptt sweep $exp --seeds 0-2 --jobs 2 --threads 1 --set task.T=$T \
      --set train.steps=$((U * L)) --set train.epoch_steps=$((20 * L)) --set train.eval_every=$((250 * L)) \
      --set train.checkpoint_every=$((250 * L)) \
      --sweep-dir sweeps/copying_T${T}_$exp --out results --name copying_T${T}_${exp#copying_} || exit $?
  done
done
