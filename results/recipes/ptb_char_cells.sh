#!/bin/bash
# Issue 43, character PTB at a CPU size: LSTM, RHN depth 1 / 5 / 10, HyperLSTM and HRHN (depth 7) at
# about 100k parameters each (widths from nobptt.cells.sizing.matched_hidden), truncated BPTT k = 10,
# 50,000 steps of 32 streams, seed 0, under the stream protocol and under the HRHN release's windowed
# protocol (docs/cells.md#character-ptb-two-protocols). Each cell's learning rate is chosen on held-out
# by its own probe under the stream protocol (10,000 steps, 1e-3 / 3e-3 / 1e-2 / 3e-2, no test read)
# and used under both protocols: one rate for all, the LSTM's 3e-2, left RHN depth 1 above the
# unigram level (docs/notebook/2026-12-speed-and-cells.md). Then each run's best.pt is read on the
# test split once, under the protocol it trained with.
# Recorded run (results/ptb_char_cells.json, 6aea181): HRHN under the windowed protocol diverged at its
# stream-chosen 3e-2 (step 6,000), which stops this script before the test reads; it was trained again
# at 1e-2, the next rate of its probe's grid, and the reads done by hand with the commands below:
#   python -m nobptt train ptb_char_cells --seed 0 --run-dir runs/ptb_char_cells-hrhn7-windows-lr1e-2-s0 \
#     --set model.cell=hrhn:7 --set model.hidden=76 --set optim.lr=1e-2 $W --set train.progress=false
set -o pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD
export NOBPTT_DATA=${NOBPTT_DATA:-../shared/data}
W="--set task.protocol=windows --set task.eval_batch_size=1000"
variants=()
for cell in lstm:129 rhn:1:189 rhn:5:92 rhn:10:67 hyperlstm:116 hrhn:7:76; do
  name=${cell%:*} hidden=${cell##*:} tag=${cell%:*}; tag=${tag/:/}
  model="--set model.cell=$name --set model.hidden=$hidden"
  probe=ptb_char_cells_lr_$tag
  [ -f results/$probe.json ] || python -m nobptt sweep ptb_char_cells --seeds 0 --grid optim.lr=1e-3,3e-3,1e-2,3e-2 \
    $model --no-test --jobs 2 --threads 1 --set train.steps=10000 --sweep-dir sweeps/$probe --out results \
    --name $probe || exit $?
  lr=$(python -m nobptt sweep --chosen results/$probe.json) || exit $?
  echo "$tag: learning rate chosen on held-out: $lr"
  for protocol in stream windows; do
    extra=""; [ $protocol = windows ] && extra=$W
    variants+=("$tag-$protocol|$model $lr $extra")
  done
done
mkdir -p runs
run_one() {
  IFS='|' read -r name args <<< "$1"
  dir=runs/ptb_char_cells-$name-s0
  [ -f $dir/summary.json ] && return
  if [ -d $dir ]; then python -m nobptt train --resume $dir > $dir.log 2>&1; return; fi
  python -m nobptt train ptb_char_cells --seed 0 --run-dir $dir $args --set train.progress=false > $dir.log 2>&1
}
export -f run_one
printf '%s\n' "${variants[@]}" | xargs -P 2 -I{} bash -c 'run_one "{}"' || { echo "a run failed: see runs/ptb_char_cells-*.log" >&2; exit 1; }
for v in "${variants[@]}"; do
  name=${v%%|*}
  [ -f runs/ptb_char_cells-$name-s0/test_reads.json ] && continue  # read once, on an earlier pass
  python -m nobptt eval runs/ptb_char_cells-$name-s0 --checkpoint best.pt --split test \
    --out results/ptb_char_cells.json 2>&1 | tail -1 || exit $?
done
