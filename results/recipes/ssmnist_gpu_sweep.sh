#!/usr/bin/env bash
# RECORD of what ran, kept as it ran (machine paths included); not a maintained driver (those: scripts/, nobptt/experiments/).
# Second GPU batch: partitioned-bRSM learning-rate sweep (selected on prequential accuracy, i.e.
# on data the model had not seen when it predicted), a long flat-bRSM run and the LSTM with a
# bRSM-like objective. Usage: scripts/ssmnist_gpu_sweep.sh OUT_DIR SECONDS
set -u
out=${1:-runs-gpu2}; limit=${2:-500}
mkdir -p "$out"
run() {
  local name=$1; shift
  timeout "$limit" python3 -m nobptt train "$@" --device cuda --set train.progress=false \
    --set train.threads=1 --run-dir "$out/$name" > "$out/$name.log" 2>&1 &
}
for seed in 2 3; do run pbrsm_lr5e-4_c5e-4_s$seed ssmnist_pbrsm --seed $seed; done
for lr in 1e-3 2e-3; do for clf in 5e-4 1e-3; do for seed in 0 1; do
  run pbrsm_lr${lr}_c${clf}_s$seed ssmnist_pbrsm --seed $seed --set model.lr=$lr --set model.classifier_lr=$clf
done; done; done
run brsm_long_s0 ssmnist_brsm --seed 0 --set train.checkpoint_every=10000
run lstm_k10_prediction_s0 ssmnist_lstm --steps 30000 --set model.k1=10 --set model.k2=10 --set model.objective=prediction --set train.eval_every=10000
wait
