#!/bin/bash
# Issue 43, frequency discrimination task 1 (docs/cells.md#the-frequency-task), 110 units, full BPTT per
# batch of 32 sequences, the experiment files unchanged (Adam 1e-3, clip 10, 70 reference epochs).
# best.pt is kept on held-out accuracy; each seed is tested once (sweep). Two parts, each a session's
# worth of two lanes of one single-thread run (a sweep's unfinished runs resume when rerun, but only on
# the machine that holds its folder, so each part is sized to finish in one sitting):
#   bash results/recipes/freq.sh 1   Phased LSTM, 1 ms and asynchronous sampling, seeds 0-2: about
#                                    1.5 h of wall time (measured at 94c2254)
#   bash results/recipes/freq.sh 2   LSTM, 1 ms and asynchronous sampling, seeds 0-2; and at 0.1 ms seed 0
#                                    of each model for 7 epochs (sequences 10x longer: the steps of 70
#                                    epochs at 1 ms), a curve and a projection: 1.7 h (measured at 455752f)
# Cost: 1,373,750 steps a seed; two lanes side by side ran a Phased LSTM step in 1.54 ms with the
# held-out evaluations (about 35 min a seed; the idle one-thread bench row, results/bench_speed_freq.csv,
# says 0.97 ms). Three seeds, not the reference's five: five of each model and sampling would take
# about 6.5 h of the 2-core machine with the 0.1 ms runs, over issue 43's budget of 6 h. 70 epochs at
# 0.1 ms would take about 6 h of one core a seed: one 7-epoch seed of each model instead.
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
  1) lane_a() { sweep freq_plstm freq_plstm_1ms 0-2; }
     lane_b() { sweep freq_plstm freq_plstm_async 0-2 --set task.sampling=async; } ;;
  2) lane_a() { sweep freq_lstm freq_lstm_1ms 0-2 && tenth freq_plstm; }
     lane_b() { sweep freq_lstm freq_lstm_async 0-2 --set task.sampling=async && tenth freq_lstm; } ;;
  *) echo "usage: bash results/recipes/freq.sh 1|2 (the part to run; see the header)" >&2; exit 2 ;;
esac
run_lanes freq_part$1
