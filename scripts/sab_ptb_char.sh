#!/usr/bin/env bash
# Character-level PTB (docs/sab.md): SAB (experiment ptb_char_sab: k_trunc 10, k_top 5, k_att 5,
# hidden 256, 373.9k parameters) against an LSTM trained by truncated BPTT with the same truncation
# (ptb_char_lstm_tbptt10: k = 10, hidden 275, 373.5k parameters), both with windows of 100 steps.
# best.pt by validation bits per character, then one test evaluation, appended to OUT.
# Usage: bash scripts/sab_ptb_char.sh
#   env: LEARNERS (default "sab lstm_tbptt10"), STEPS, SEED (default 0), OUT (default results/sab_ptb_char.json)
set -euo pipefail
. "$(dirname "$0")/sab_train_or_resume.sh"
SEED=${SEED:-0}
OUT=${OUT:-results/sab_ptb_char.json}
for name in ${LEARNERS:-sab lstm_tbptt10}; do
  run="runs/ptb_char_${name}_s${SEED}"
  train_or_resume "$run" "ptb_char_${name}" --seed "$SEED" ${STEPS:+--set train.steps=$STEPS}
  nobptt eval "$run" --checkpoint best.pt --split test --out "$OUT"
done
