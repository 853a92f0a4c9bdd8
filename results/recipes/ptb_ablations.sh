#!/usr/bin/env bash
# RECORD of what ran, kept as it ran (machine paths included); not a maintained driver (those: scripts/, nobptt/experiments/).
# Since 2026-12-07 ptb_brsm defaults to the bfloat16 classifier step and patience 3; these runs were
# float32 without patience: add --set model.classifier_precision=float32 --set train.patience=0 to rerun them.
# The PTB ablations of brsm.md §4.3 (Flat_PTB_Abl_*), each differing from ptb_brsm only as listed,
# at the CPU budget schedule of results/ptb_brsm_cpu30k (30k memory + 20k classifier steps, the
# point at which that run's recorded result was taken; ~1 h 40-50 min each on 2 cores, then ~4 min
# to evaluate). Usage: bash scripts/ptb_ablations.sh [binary|nonflat|inhibition|static]...
set -euo pipefail
SCHEDULE=(--set model.memory_steps=30000 --set model.classifier_from_step=30000
          --set train.steps=50000 --set train.eval_from_step=32500)
declare -A ABLATION=(
  [binary]="--set task.embedding=binary"                                   # no semantic embedding (28-bit code)
  [nonflat]="--set model.groups=600 --set model.cells_per_group=3"          # 600 groups x 3 cells
  [inhibition]="--set model.selection=inhibition --set model.inhibition_decay=0.8 --set model.boost_strength=0"
  # fixed decay at the trainable one's initial value, 0.95 sigmoid(0.5) = 0.5913 (the reference's
  # value for this ablation is not recorded: brsm.md §4.3)
  [static]="--set model.trainable_decay=false --set model.trace_decay=0.5913"
)
for name in "${@:-binary nonflat inhibition static}"; do
  for one in $name; do
    # shellcheck disable=SC2086
    nobptt train ptb_brsm --run-dir "runs/ptb_brsm_abl_$one" "${SCHEDULE[@]}" ${ABLATION[$one]}
    nobptt lm evaluate "runs/ptb_brsm_abl_$one" --out "results/ptb_brsm_abl_$one.json"
  done
done
