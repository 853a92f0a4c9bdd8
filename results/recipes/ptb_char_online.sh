#!/bin/bash
# Character PTB (stream protocol), seed 0 x 8 learners: the same RNN of 16 units, one Adam update (lr 1e-2,
# chosen on held-out with truncated BPTT k = 10) every 10 characters, 30,000 steps of 32 streams; one
# run at a time (beside other work) with one thread; then one test read of each best.pt.
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD
export NOBPTT_DATA=${NOBPTT_DATA:-../shared/data}
variants=(
  "rtrl|--set model.name=rtrl --set model.update_every=10"
  "snap1|--set model.name=snap1 --set model.update_every=10"
  "snap2|--set model.name=snap2 --set model.update_every=10"
  "uoro|--set model.name=uoro --set model.update_every=10"
  "eprop|--set model.name=eprop --set model.update_every=10"
  "tbptt10|--set model.name=tbptt --set model.k=10 --set model.update_every=10"
  "tbptt50|--set model.name=tbptt --set model.k=50 --set model.update_every=50"
  "esn|--set model.name=esn"
)
run_one() {
  IFS='|' read -r name args <<< "$1"
  dir=runs/ptb_char_online-$name-s0
  [ -f $dir/summary.json ] && return
  if [ -d $dir ]; then python -m nobptt train --resume $dir > $dir.log 2>&1; return; fi
  python -m nobptt train ptb_char_online --seed 0 --run-dir $dir $args --set train.progress=false > $dir.log 2>&1
}
export -f run_one
printf '%s\n' "${variants[@]}" | xargs -P 1 -I{} bash -c 'run_one "{}"'
for v in "${variants[@]}"; do
  name=${v%%|*}
  python -m nobptt eval runs/ptb_char_online-$name-s0 --checkpoint best.pt --split test --out results/ptb_char_online.json 2>&1 | tail -1
done
