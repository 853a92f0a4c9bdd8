#!/bin/bash
# Issue 41: SAB's fast training path (model.impl = "fast") against the reference path on copying at
# T = 100 (copying_sab): (1) seed 0 trained 1,000 updates by each path on one thread, side by side,
# and by the reference on two threads (what rounding alone does to the curve), the held-out pass
# every 100 updates, the three curves in one record; (2) both paths timed in one
# bench run on an otherwise idle machine; (3) a profile of one update of each.
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD
for run in reference:1 fast:1 reference:2; do
  impl=${run%:*} threads=${run#*:}
  dir=runs/copying_sab-$impl$([ $threads = 1 ] || echo ${threads}t)-1000u-s0
  [ -f $dir/summary.json ] && continue
  if [ -d $dir ]; then python -m nobptt train --resume $dir > $dir.log 2>&1 &
  else python -m nobptt train copying_sab --seed 0 --run-dir $dir --set model.impl=$impl --set train.threads=$threads \
    --steps 120000 --set train.progress=false > $dir.log 2>&1 &
  fi
done
wait
python -m nobptt report runs/copying_sab-reference-1000u-s0 runs/copying_sab-fast-1000u-s0 \
  runs/copying_sab-reference2t-1000u-s0 --labels "reference,fast,reference (2 threads)" \
  --name sab_fast_curve --out results || exit $?
python -m nobptt bench speed --experiment copying_sab --variant 'reference=model.impl=reference;train.threads=1' \
  --variant 'fast=model.impl=fast;train.threads=1' --steps 120 --out results/bench_speed_sab_fast.csv || exit $?
for impl in reference fast; do
  python -m nobptt bench profile --experiment copying_sab --set model.impl=$impl --set train.threads=1 \
    --out results/profiles/copying_sab_$impl.csv | tail -3
done
