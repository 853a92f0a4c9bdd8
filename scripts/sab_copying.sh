#!/usr/bin/env bash
# Copying problem (docs/sab.md#the-tasks-and-their-metrics; docs/sab.md): SAB and its three LSTM baselines at
# T = 100, 200, 300. Each learner trains for UPDATES episodes (one update per episode of T+20 steps,
# batch 64) from its experiment file (copying_sab, copying_lstm_tbptt5, copying_lstm_bptt,
# copying_selfattn), keeps best.pt by held-out cross-entropy on 512 validation episodes, and is
# evaluated once on 512 test episodes; models trained at T = 100 are also tested at T = 200, 500,
# 1000 (transfer). Every evaluation is appended to OUT with its provenance.
# The headline recipe (99.49%) is its own experiment: bash scripts/sab_copying_long.sh SEED...
# Usage: bash scripts/sab_copying.sh [T ...]
#   env: UPDATES (default 1500), LEARNERS (default "sab sab_lstm_tbptt5 sab_lstm_bptt sab_selfattn";
#        also sab_lstm_tbptt5_fb1, sab_lstm_bptt_fb1: scripts/sab_learners.sh), SEED (default 0),
#        EVAL_EVERY (updates between validations, default 100), TAG (appended to the run folder,
#        e.g. TAG=u20000 for a longer run beside the 3,000-update one), OUT (default
#        results/sab_copying.json), EXTRA (more `nobptt train` arguments, e.g. "--set optim.lr=5e-4")
set -euo pipefail
. "$(dirname "$0")/sab_train_or_resume.sh"
. "$(dirname "$0")/sab_learners.sh"
UPDATES=${UPDATES:-1500}
SEED=${SEED:-0}
OUT=${OUT:-results/sab_copying.json}
EVAL_EVERY=${EVAL_EVERY:-100}
for T in ${@:-100 200 300}; do
  L=$((T + 20))
  for name in ${LEARNERS:-$SAB_LEARNERS}; do
    args=$(learner_args copying "$name")
    run="runs/copying_${name}_T${T}_s${SEED}${TAG:+_$TAG}"
    # shellcheck disable=SC2086
    train_or_resume "$run" $args --seed "$SEED" --set task.T="$T" --set train.steps=$((UPDATES * L)) --set train.eval_every=$((EVAL_EVERY * L)) --set train.checkpoint_every=$((EVAL_EVERY * L)) --set train.epoch_steps=$((20 * L)) ${EXTRA:-}
    test_copying "$run" "$T" "$OUT"
  done
done
