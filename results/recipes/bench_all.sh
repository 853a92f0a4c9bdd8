#!/usr/bin/env bash
# RECORD of what ran, kept as it ran (machine paths included); not a maintained driver (those: scripts/, nobptt/experiments/).
# The benchmarks recorded in results/bench_*.csv/png (issue 3): CPU, 2 cores, about 2.5 hours (the LSTM
# with k1 = 1, k2 = 30 at T = 10^4 alone takes ~40 minutes; it was stopped in the recorded run).
# Run on an otherwise idle machine: the speed figures are timings.
set -euo pipefail
# Speed at the ssMNIST configuration (B=300), every learner and variant at its own config.
nobptt bench speed --out results/bench_speed.csv
# Speed at matched parameters (LSTM hidden size chosen to match the flat bRSM's parameter count).
nobptt bench speed --learners brsm,pbrsm,lstm_tbptt10,lstm_tbptt30 --scales 1 --out results/bench_speed_matched.csv
# bRSM : LSTM-tBPTT memory at the ssMNIST configuration (B=300), parameter-matched.
nobptt bench memory --learners brsm,pbrsm,pbrsm_sparse,lstm_tbptt30,lstm_tbptt10 --lengths 100 --batch 300 \
  --scales 1 --out results/bench_memory_ssmnist.csv
# Model size at matched parameters.
nobptt bench memory --learners brsm,pbrsm,lstm_tbptt30,lstm_bptt --lengths 1000 --batch 16 \
  --scales 0.25,0.5,1,2 --out results/bench_memory_sizes.csv
# Sequence length 10^2..10^4, every learner at its own (ssMNIST) config.
nobptt bench memory --lengths 100,1000,10000 --batch 16 --out results/bench_memory.csv
# SAB and its LSTM baselines (issue 5), T = 10^2..10^4; the released one-graph SAB and dense
# self-attention stop at 10^3 (O(T^2) memory). About 6 minutes.
nobptt bench memory --learners sab,sab_onegraph,sab_lstm_bptt,sab_lstm_tbptt5,sab_selfattn \
  --out results/bench_memory_sab.csv
# 10^5 steps for one learner of each kind (about 50 minutes).
nobptt bench memory --learners pbrsm,lstm_tbptt30 --lengths 100000 --batch 16 --out results/bench_memory_1e5.csv
