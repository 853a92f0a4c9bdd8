#!/usr/bin/env bash
# RECORD of what ran, kept as it ran (machine paths included); not a maintained driver (those: scripts/, nobptt/experiments/).
# Third GPU batch: partitioned bRSM to 30k batches (3 seeds), LSTM seeds, original-RSM variants.
set -u
out=${1:-runs-gpu3}; limit=${2:-330}
mkdir -p "$out"
run() {
  local name=$1; shift
  timeout "$limit" python3 -m nobptt train "$@" --device cuda --set train.progress=false \
    --set train.threads=1 --run-dir "$out/$name" > "$out/$name.log" 2>&1 &
}
for seed in 0 1 2; do run pbrsm30k_s$seed ssmnist_pbrsm --seed $seed --steps 30000 --set train.eval_every=5000; done
for seed in 1 2; do run lstm_k10_s$seed ssmnist_lstm --seed $seed --steps 30000 --set model.k1=10 --set model.k2=10 --set train.eval_every=5000; done
run rsm_boost_s0 ssmnist_rsm --steps 30000 --set model.selection=boost --set model.boost_strength=1.2
run rsm_g09_s0 ssmnist_rsm --steps 30000 --set model.inhibition_decay=0.9
run lstm_fixed_k10_s0 ssmnist_lstm --steps 35000 --set task.fixed_exemplar=true --set model.k1=10 --set model.k2=10 --set train.eval_every=5000
wait
