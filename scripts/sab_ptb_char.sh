#!/usr/bin/env bash
# Character-level PTB: SAB (k_trunc 10, k_top 5, k_att 5, hidden 256) against an LSTM trained by
# truncated BPTT with the same truncation (k = 10) at matched size (hidden 275: 373.5k vs 373.9k
# parameters), both with windows of 100 steps. best.pt by validation BPC, then one test evaluation.
# Appends to results/sab_ptb_char.json.  Usage: bash scripts/sab_ptb_char.sh   env: STEPS, SEED
set -euo pipefail
. "$(dirname "$0")/sab_train_or_resume.sh"
SEED=${SEED:-0}
OUT=${OUT:-results/sab_ptb_char.json}
declare -A LEARNER=(
  [sab]=""
  [tbptt10]="--set model.attention=none --set model.hidden=275"
)
for name in ${LEARNERS:-sab tbptt10}; do
  run="runs/ptb_char_${name}_s${SEED}"
  # shellcheck disable=SC2086
  train_or_resume "$run" ptb_char_sab --seed "$SEED" ${STEPS:+--set train.steps=$STEPS} ${LEARNER[$name]}
  nobptt eval "$run" --checkpoint best.pt --split test --out "$OUT"
done
