#!/bin/bash
# Issue 43, frequency discrimination task 1 (docs/cells.md#the-frequency-task), 110 units, full BPTT per
# batch of 32 sequences, the experiment files unchanged (Adam 1e-3, clip 10, 70 reference epochs):
#   1 ms and asynchronous sampling: Phased LSTM and LSTM, seeds 0-1 (1 ms) and 0 (async);
#   0.1 ms: seed 0 of each for 7 epochs (sequences 10x longer: the same steps as 70 epochs at 1 ms),
#   a curve and a projection, not the reference's 70 epochs.
# The issue's 5 seeds x 70 epochs x 3 samplings x 2 models would take about 40 h of this CPU; this is the
# part that fits its 6 h. best.pt is kept on held-out accuracy; each seed is tested once (sweep).
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD
sweep() {  # EXPERIMENT NAME SEEDS ARGS...
  local exp=$1 name=$2 seeds=$3; shift 3
  python -m nobptt sweep $exp --seeds $seeds --jobs 2 --threads 1 "$@" \
    --sweep-dir sweeps/$name --out results --name $name || exit $?
}
E=196250  # one 0.1 ms epoch-row every 157 batches of 1,250 steps
for exp in freq_plstm freq_lstm; do
  sweep $exp ${exp}_1ms 0-1
  sweep $exp ${exp}_async 0 --set task.sampling=async
  sweep $exp ${exp}_01ms 0 --set task.sampling=0.1ms --set train.epoch_steps=$E --set train.eval_every=$E \
    --set train.checkpoint_every=$E
done
