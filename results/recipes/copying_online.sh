#!/bin/bash
# Copying (T = 10, 3 symbols), seed 0 x 8 learners: the same RNN of 32 units, one Adam update (lr 3e-3,
# chosen on held-out with BPTT) per 16-step episode, 2,500 updates; two runs at a time with one
# thread each; then one test read of each run's best.pt (held-out selected).
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD
variants=(
  "rtrl|--set model.name=rtrl --set model.update_every=0"
  "snap1|--set model.name=snap1 --set model.update_every=0"
  "snap2|--set model.name=snap2 --set model.update_every=0"
  "uoro|--set model.name=uoro --set model.update_every=0"
  "eprop|--set model.name=eprop --set model.update_every=0"
  "bptt|--set model.name=bptt"
  "tbptt5|--set model.name=tbptt --set model.k=5 --set model.update_every=5"
  "esn|--set model.name=esn"
)
run_one() {
  IFS='|' read -r name args <<< "$1"
  dir=runs/copying_online-$name-s0
  [ -f $dir/summary.json ] && return
  if [ -d $dir ]; then python -m nobptt train --resume $dir > $dir.log 2>&1; return; fi
  python -m nobptt train copying_online --seed 0 --run-dir $dir $args --set train.progress=false > $dir.log 2>&1
}
export -f run_one
printf '%s\n' "${variants[@]}" | xargs -P 2 -I{} bash -c 'run_one "{}"'
for v in "${variants[@]}"; do
  name=${v%%|*}
  python -m nobptt eval runs/copying_online-$name-s0 --checkpoint best.pt --split test --out results/copying_online.json 2>&1 | tail -1
done
