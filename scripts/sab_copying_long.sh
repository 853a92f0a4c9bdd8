#!/usr/bin/env bash
# The headline copying recipe, experiment copying_sab_long (docs/sab.md): SAB at T = 100 for
# 32,500 updates, lr halved every 1,500 updates from 27,000, one run per seed; each run's best.pt
# is tested once at T = 100 (with --breakdown) and at T = 200, 500, 1000 (transfer), appended to OUT.
# Usage: bash scripts/sab_copying_long.sh [SEED ...]   (default: seeds 0-5)
#   env: OUT (default results/sab_copying_long.json)
# The seeds' training alone, resumable and in parallel: nobptt sweep copying_sab_long --seeds 0-5 --jobs 2
# (docs/sweep.md says why this script stays: its recorded folder names and transfer tests).
set -euo pipefail
. "$(dirname "$0")/sab_train_or_resume.sh"
OUT=${OUT:-results/sab_copying_long.json}
for seed in ${@:-0 1 2 3 4 5}; do
  run="runs/copying_sab_T100_s${seed}_u32500_decay27k"
  train_or_resume "$run" copying_sab_long --seed "$seed"
  test_copying "$run" 100 "$OUT"
done
