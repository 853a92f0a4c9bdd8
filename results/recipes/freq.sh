#!/bin/bash
# Issue 43, frequency discrimination task 1 (docs/cells.md#the-frequency-task), 110 units, full BPTT per
# batch of 32 sequences, the experiment files unchanged (Adam 1e-3, clip 10, 70 reference epochs).
# best.pt is kept on held-out accuracy; each seed is tested once (sweep). Two parts, each a session's
# worth of two lanes of one single-thread run (a sweep's unfinished runs resume when rerun, but only on
# the machine that holds its folder, so each part is sized to finish in one sitting):
#   bash results/recipes/freq.sh 1   Phased LSTM, 1 ms and asynchronous sampling, seeds 0-4 (the issue's
#                                    5 seeds x 70 epochs): about 2 h of wall time, projected
#   bash results/recipes/freq.sh 2   LSTM, 1 ms and asynchronous sampling, seeds 0-4; and at 0.1 ms seed 0
#                                    of each model for 7 epochs (sequences 10x longer: the steps of 70
#                                    epochs at 1 ms), a curve and a projection: about 1.5 h of wall time, projected
# Cost (bench rows, idle, one thread): 0.97 ms a Phased LSTM step, 0.58 ms an LSTM step; 1,373,750 steps
# a seed: about 22 and 13 min of training a seed, about 6.4 h of one core, 3.5 h of the 2-core machine
# in all (issue 43's budget is 6 h of the machine). 5 seeds x 70 epochs at 0.1 ms would take about 36 h
# of one core here: not run.
cd "$(dirname "$0")/../.."
. results/recipes/lanes.sh
export PYTHONPATH=$PWD
sweep() {  # EXPERIMENT NAME SEEDS ARGS...
  local exp=$1 name=$2 seeds=$3; shift 3
  python -m nobptt sweep $exp --seeds $seeds --jobs 1 --threads 1 "$@" \
    --sweep-dir sweeps/$name --out results --name $name
}
E=196250  # one 0.1 ms epoch-row every 157 batches of 1,250 steps
tenth() {  # EXPERIMENT: seed 0 at 0.1 ms for 7 epochs
  sweep $1 ${1}_01ms 0 --set task.sampling=0.1ms --set train.steps=$((7 * E)) --set train.epoch_steps=$E \
    --set train.eval_every=$E --set train.checkpoint_every=$E
}
case "$1" in
  1) lane_a() { sweep freq_plstm freq_plstm_1ms 0-4; }
     lane_b() { sweep freq_plstm freq_plstm_async 0-4 --set task.sampling=async; } ;;
  2) lane_a() { sweep freq_lstm freq_lstm_1ms 0-4 && tenth freq_plstm; }
     lane_b() { sweep freq_lstm freq_lstm_async 0-4 --set task.sampling=async && tenth freq_lstm; } ;;
  *) echo "usage: bash results/recipes/freq.sh 1|2 (the part to run; see the header)" >&2; exit 2 ;;
esac
run_lanes freq_part$1
