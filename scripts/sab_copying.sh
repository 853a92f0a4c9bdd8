#!/usr/bin/env bash
# Copying problem (ptncn_sab.md §2.4, §2.6): SAB and its three LSTM baselines at T = 100, 200, 300.
# Each learner trains for UPDATES episodes (one update per episode of T+20 steps, batch 64), keeps
# best.pt by held-out cross-entropy on 512 validation episodes, and is evaluated once on 512 test
# episodes; models trained at T = 100 are also tested at T = 200, 500, 1000 (transfer).
# Every evaluation is appended to results/sab_copying.json with its provenance.
# Usage: bash scripts/sab_copying.sh [T ...]
#   env: UPDATES (default 1500), LEARNERS (default "sab tbptt5 bptt selfattn"), SEED (default 0),
#        EVAL_EVERY (updates between validations, default 100), TAG (appended to the run folder,
#        e.g. TAG=u20000 for a longer run beside the 3,000-update one), OUT (results file),
#        EXTRA (more `nobptt train` arguments, e.g. an lr schedule: "--set train.lr_decay=0.5 ...")
#   LEARNERS may also name bpttfb1 / tbptt5fb1: the plain LSTMs with the forget gate's initial bias
#   raised by 1 (model.forget_bias), not in the paper's comparison
set -euo pipefail
. "$(dirname "$0")/sab_train_or_resume.sh"
. "$(dirname "$0")/sab_learners.sh"  # LEARNER: name -> overrides
UPDATES=${UPDATES:-1500}
SEED=${SEED:-0}
OUT=${OUT:-results/sab_copying.json}
EVAL_EVERY=${EVAL_EVERY:-100}
for T in ${@:-100 200 300}; do
  L=$((T + 20))
  for name in ${LEARNERS:-sab tbptt5 bptt selfattn}; do
    run="runs/copying_${name}_T${T}_s${SEED}${TAG:+_$TAG}"
    # shellcheck disable=SC2086
    train_or_resume "$run" copying_sab --seed "$SEED" --set task.T="$T" --set train.steps=$((UPDATES * L)) --set train.eval_every=$((EVAL_EVERY * L)) --set train.checkpoint_every=$((EVAL_EVERY * L)) --set train.epoch_steps=$((20 * L)) ${LEARNER[$name]} ${EXTRA:-}
    test_copying "$run" "$T" "$OUT"
  done
done
