#!/usr/bin/env bash
# RECORD of what ran, kept as it ran (machine paths included); not a maintained driver (those: scripts/, nobptt/experiments/).
# Since 2026-12-07 ptb_brsm defaults to the bfloat16 classifier step and patience 3; these runs were
# float32 without patience: add --set model.classifier_precision=float32 --set train.patience=0 to rerun them.
# The Penn Treebank results recorded in results/ptb_*.json/png (issue 4), as run on the 2-core CPU
# machine. Needs NOBPTT_DATA pointing at a folder with ptb_word/ (PTB is never shipped).
set -euo pipefail
# Kneser-Ney 5-gram: fit on train, validation and test perplexity (~15 s).
nobptt lm ngram --order 5 --out results/ptb_kn5.json
# Flat bRSM on a CPU budget: memory learns 30k steps, then the classifier 30k steps on the frozen
# memory (the paper's schedule is 55k + 45k: `nobptt train ptb_brsm`). ~1 h 45 min.
nobptt train ptb_brsm --run-dir runs/ptb_brsm_cpu30k --set model.memory_steps=30000 \
  --set model.classifier_from_step=30000 --set train.steps=60000 --set train.eval_from_step=32500
nobptt lm evaluate runs/ptb_brsm_cpu30k --out results/ptb_brsm_cpu30k.json
# The paper's schedule (55k memory steps, classifier to 100k). The recorded run was stopped at step
# 92,000, validation having risen for three points past its best (82,500); ~3 h on this CPU.
nobptt train ptb_brsm --run-dir runs/ptb_brsm_full
nobptt lm evaluate runs/ptb_brsm_full --out results/ptb_brsm_full.json
# Zaremba et al.'s small LSTM (13 passes, SGD) on random-offset streams. ~27 min on this CPU.
nobptt train ptb_lstm_small --run-dir runs/ptb_lstm_small --set task.streams=random
nobptt lm evaluate runs/ptb_lstm_small --out results/ptb_lstm_small.json
# The same LSTM on Zaremba et al.'s streams (the config's default): 20 contiguous chunks. ~40 min
# for the 13 passes on this CPU (the recorded run was stopped after 7 and resumed).
nobptt train ptb_lstm_small --run-dir runs/ptb_lstm_small_contiguous --set task.streams=contiguous
nobptt lm evaluate runs/ptb_lstm_small_contiguous --out results/ptb_lstm_small_contiguous.json
