#!/usr/bin/env bash
# Adding problem: SAB and its three LSTM baselines at T = 200 and 400, UPDATES episodes each
# (batch 64), best.pt by held-out MSE on 512 validation episodes, one test evaluation on 512 others.
# Every evaluation is appended to results/sab_adding.json with its provenance.
# Usage: bash scripts/sab_adding.sh [T ...]   env: UPDATES (default 1000), LEARNERS, SEED, OUT
#   LEARNERS defaults to the four of the paper's comparison; tbptt5fb1 and bpttfb1 are the two plain
#   LSTMs with the forget gate's initial bias raised by 1 (model.forget_bias), a common fix for them.
set -euo pipefail
. "$(dirname "$0")/sab_train_or_resume.sh"
. "$(dirname "$0")/sab_learners.sh"  # LEARNER: name -> overrides
UPDATES=${UPDATES:-1000}
SEED=${SEED:-0}
OUT=${OUT:-results/sab_adding.json}
for T in ${@:-200 400}; do
  for name in ${LEARNERS:-sab tbptt5 bptt selfattn}; do
    run="runs/adding_${name}_T${T}_s${SEED}"
    # shellcheck disable=SC2086
    train_or_resume "$run" adding_sab --seed "$SEED" --set task.T="$T" --set train.steps=$((UPDATES * T)) --set train.eval_every=$((100 * T)) --set train.checkpoint_every=$((100 * T)) --set train.epoch_steps=$((20 * T)) ${LEARNER[$name]}
    test_adding "$run" "$OUT"
  done
done
