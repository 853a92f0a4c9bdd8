#!/bin/bash
# The Add task, 3 seeds x 8 learners (same RNN of 32 units, Adam lr 1e-3, 10,000 steps of 32 streams),
# two runs at a time with one thread each; then one test read of each run's best.pt (held-out selected).
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD
variants=(
  "rtrl|--set model.name=rtrl"
  "snap1|--set model.name=snap1"
  "snap2|--set model.name=snap2"
  "uoro|--set model.name=uoro"
  "eprop|--set model.name=eprop"
  "esn|--set model.name=esn"
  "tbptt5|--set model.name=tbptt --set model.k=5 --set model.update_every=5"
  "tbptt20|--set model.name=tbptt --set model.k=20 --set model.update_every=20"
)
jobs_list=()
for s in 0 1 2; do for v in "${variants[@]}"; do jobs_list+=("$s|$v"); done; done
run_one() {
  IFS='|' read -r s name args <<< "$1"
  dir=runs/add_online-$name-s$s
  [ -f $dir/summary.json ] && return
  python -m nobptt train add_online --seed $s --run-dir $dir $args --set train.progress=false > $dir.log 2>&1
}
export -f run_one
printf '%s\n' "${jobs_list[@]}" | xargs -P 2 -I{} bash -c 'run_one "{}"'
for s in 0 1 2; do for v in "${variants[@]}"; do
  name=${v%%|*}
  python -m nobptt eval runs/add_online-$name-s$s --checkpoint best.pt --split test --out results/add_task.json 2>&1 | tail -1
done; done
