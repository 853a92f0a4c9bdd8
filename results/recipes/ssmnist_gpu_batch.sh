#!/usr/bin/env bash
# RECORD of what ran, kept as it ran (machine paths included); not a maintained driver (those: scripts/, nobptt/experiments/).
# Runs the long ssMNIST trainings side by side on one GPU machine (used for results/ on an H100).
# Usage: scripts/ssmnist_gpu_batch.sh OUT_DIR SECONDS
# Each run is cut at SECONDS of wall time; its metrics up to the last epoch are kept. Wall times
# from this batch share one GPU and 16 cores among all runs: compare speeds only from CPU runs.
set -u
out=${1:-runs-gpu}; limit=${2:-520}
mkdir -p "$out"
run() {  # name, then nobptt train arguments
  local name=$1; shift
  timeout "$limit" python3 -m nobptt train "$@" --device cuda --set train.progress=false \
    --run-dir "$out/$name" > "$out/$name.log" 2>&1 &
}
run brsm_s0 ssmnist_brsm --seed 0 --set train.checkpoint_every=10000
run brsm_s1 ssmnist_brsm --seed 1 --set train.checkpoint_every=10000
run rsm_s0 ssmnist_rsm --seed 0 --steps 200000 --set train.eval_every=10000
for lr in 3e-4 1e-3 3e-3; do
  run lstm_k30_lr$lr ssmnist_lstm --steps 200000 --set model.lr=$lr --set model.classifier_lr=$lr --set train.eval_every=10000
done
run lstm_k10_lr1e-3 ssmnist_lstm --steps 200000 --set model.k1=10 --set model.k2=10 --set train.eval_every=10000
run lstm_k1k30_lr1e-3 ssmnist_lstm --steps 200000 --set model.k1=1 --set train.eval_every=10000
run pbrsm_fixed_s0 ssmnist_pbrsm --steps 35000 --set task.fixed_exemplar=true --set train.eval_every=5000
run lstm_fixed_s0 ssmnist_lstm --steps 35000 --set task.fixed_exemplar=true --set train.eval_every=5000
run pbrsm_inhibition_s0 ssmnist_pbrsm --set model.selection=inhibition --set model.inhibition_decay=0.5
run pbrsm_none_s0 ssmnist_pbrsm --set model.selection=none
run pbrsm_gpu_s1 ssmnist_pbrsm --seed 1
wait
