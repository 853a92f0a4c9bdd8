#!/usr/bin/env bash
# Adding problem (docs/sab.md): SAB and its three LSTM baselines at T = 200 and 400, UPDATES
# episodes each (batch 64) from their experiment files (adding_sab, adding_lstm_tbptt5,
# adding_lstm_bptt, adding_selfattn), best.pt by held-out MSE on 512 validation episodes, one test
# evaluation on 512 others, appended to OUT with its provenance.
# Usage: bash scripts/sab_adding.sh [T ...]
#   env: UPDATES (default 1000), LEARNERS (default "sab sab_lstm_tbptt5 sab_lstm_bptt sab_selfattn";
#        also sab_lstm_tbptt5_fb1, sab_lstm_bptt_fb1: scripts/sab_learners.sh), SEED (default 0),
#        OUT (default results/sab_adding.json)
set -euo pipefail
. "$(dirname "$0")/sab_train_or_resume.sh"
. "$(dirname "$0")/sab_learners.sh"
UPDATES=${UPDATES:-1000}
SEED=${SEED:-0}
OUT=${OUT:-results/sab_adding.json}
for T in ${@:-200 400}; do
  for name in ${LEARNERS:-$SAB_LEARNERS}; do
    args=$(learner_args adding "$name")
    run="runs/adding_${name}_T${T}_s${SEED}"
    # shellcheck disable=SC2086
    train_or_resume "$run" $args --seed "$SEED" --set task.T="$T" --set train.steps=$((UPDATES * T)) --set train.eval_every=$((100 * T)) --set train.checkpoint_every=$((100 * T)) --set train.epoch_steps=$((20 * T))
    test_adding "$run" "$OUT"
  done
done
