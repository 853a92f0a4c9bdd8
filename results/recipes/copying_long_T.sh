#!/bin/bash
# Issue 41, copying at T = 200 and 300: SAB against the LSTM by truncated BPTT (k = 5) and by full
# BPTT, seeds 0-2, 5,000 updates each (one 64-sequence episode per update), everything else as in
# the experiment files: the T = 100 recipe (copying_sab_long: Adam 1e-3, clip 1; its decay starts at
# update 27,000, so within 5,000 updates the rate is constant) unchanged for every seed and T.
# best.pt is kept on held-out NLL; each seed's best.pt is read on the test split once (sweep).
# Cost (bench, one thread, idle 2-core EPYC): SAB 0.30 / 0.47 s an update at T = 200 / 300, the LSTMs
# 0.13-0.22 s; about 6 h of one core in all. Two lanes of one single-thread run each, balanced
# (about 3 h of wall time); resumable: rerun it and each sweep picks up where it stopped.
cd "$(dirname "$0")/../.."
. results/recipes/lanes.sh
export PYTHONPATH=$PWD
U=5000
sweep() {  # sweep T EXPERIMENT
  local T=$1 exp=$2 L=$(($1 + 20))  # steps per episode = per update
  python -m nobptt sweep $exp --seeds 0-2 --jobs 1 --threads 1 --set task.T=$T \
    --set train.steps=$((U * L)) --set train.epoch_steps=$((20 * L)) --set train.eval_every=$((250 * L)) \
    --set train.checkpoint_every=$((250 * L)) \
    --sweep-dir sweeps/copying_T${T}_$exp --out results --name copying_T${T}_${exp#copying_}
}
lane_a() { sweep 300 copying_sab_long && sweep 300 copying_lstm_tbptt5; }
lane_b() { sweep 200 copying_sab_long && sweep 200 copying_lstm_tbptt5 && sweep 200 copying_lstm_bptt \
  && sweep 300 copying_lstm_bptt; }
run_lanes copying_long_T
