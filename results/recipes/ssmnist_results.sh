#!/usr/bin/env bash
# RECORD of what ran, kept as it ran (machine paths included); not a maintained driver (those: scripts/, nobptt/experiments/).
# Turns the ssMNIST run folders into results/*.json + .png (the commands that made results/).
# CPU runs: runs/cpu_*; GPU runs: the folders that scripts/ssmnist_gpu_*.sh produced, unpacked
# under $G1, $G2, $G3.
set -eu
G1=${G1:-/work/gpu1/runs-gpu}; G2=${G2:-/work/gpu2/runs-gpu2}; G3=${G3:-/work/gpu3/runs-gpu3}
R="nobptt report --out results"
$R runs/cpu_pbrsm_s0 --name ssmnist_pbrsm \
  --note "the default job (nobptt train), 2-core CPU"
$R $G3/pbrsm30k_s0 $G3/pbrsm30k_s1 $G3/pbrsm30k_s2 --name ssmnist_pbrsm_30k_3seeds \
  --note "H100, 8 runs sharing the GPU; wall times are not comparable"
$R $G2/brsm_long_s0 $G1/brsm_s1 --name ssmnist_brsm \
  --note "flat bRSM, cut by the batch's wall-clock limit; H100 shared by 13-14 runs"
$R $G1/rsm_s0 $G3/rsm_g09_s0 $G3/rsm_boost_s0 --name ssmnist_rsm \
  --labels "RSM gamma=0.5,RSM gamma=0.9,RSM boosting" --note "original RSM, 200x6, k=25; H100 shared"
$R $G3/pbrsm30k_s0 $G1/pbrsm_inhibition_s0 $G1/pbrsm_none_s0 --name ssmnist_pbrsm_ablation \
  --labels "boosting,inhibition gamma=0.5,neither" --note "partitioned bRSM, seed 0; compare at 10k batches"
$R $G1/lstm_k30_lr3e-4 $G1/lstm_k30_lr1e-3 $G1/lstm_k30_lr3e-3 $G1/lstm_k10_lr1e-3 $G1/lstm_k1k30_lr1e-3 \
  $G2/lstm_k10_prediction_s0 --name ssmnist_lstm_sweep \
  --labels "k1=k2=30 lr3e-4,k1=k2=30 lr1e-3,k1=k2=30 lr3e-3,k1=k2=10 lr1e-3,k1=1 k2=30 lr1e-3,k1=k2=10 lr1e-3 MSE-only" \
  --note "selection criterion: mean prequential accuracy over the first 10k batches (data unseen when predicted)"
$R $G1/lstm_k10_lr1e-3 $G3/lstm_k10_s1 $G3/lstm_k10_s2 --name ssmnist_lstm_k10_3seeds \
  --note "the selected LSTM (k1=k2=10, lr 1e-3), 3 seeds, H100 shared"
$R runs/cpu_pbrsm_s0 runs/cpu_lstm_k10_s0 --name ssmnist_cpu_pbrsm_vs_lstm \
  --labels "partitioned bRSM,LSTM tBPTT k1=k2=10" --note "same 2-core CPU, one run after the other"
$R $G1/pbrsm_fixed_s0 $G1/lstm_fixed_s0 $G3/lstm_fixed_k10_s0 --name ssmnist_fixed_exemplar \
  --labels "partitioned bRSM,LSTM k1=k2=30,LSTM k1=k2=10" --note "one fixed image per digit; H100 shared"
nobptt report --out results runs/cpu_pbrsm_s0 runs/cpu_pbrsm_s1 runs/cpu_pbrsm_s2 --name ssmnist_pbrsm_cpu_3seeds --note "2-core CPU, 3 seeds; seed 1 shared the CPU with other work for most of its run, so only seed 0 and seed 2 wall times are clean"
