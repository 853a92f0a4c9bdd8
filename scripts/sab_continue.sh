#!/usr/bin/env bash
# Continue a finished copying run for more updates in a new run folder, then test it like
# sab_copying.sh does (test split, and transfer to T = 200, 500, 1000 when trained at T = 100).
# The source folder is left as it is (its results stay valid); the copy's config.json keeps the
# first training command and lists the resume ("resumed": command, step, machine, commit).
# Usage: bash scripts/sab_continue.sh SRC_RUN DST_RUN UPDATES [--set KEY=VALUE ...]
#   UPDATES: the new total; --set changes the config for the continuation, e.g. a learning-rate
#   decay (train.lr_decay, train.lr_decay_every, train.lr_decay_from, counted in time steps).
#   env: OUT (results file, default results/sab_copying_long.json); NO_TEST=1 trains only (to
#   choose between continuations on validation before the chosen one is tested); FROM_BEST=1
#   continues from SRC's best.pt (its best validation point; a full checkpoint) instead of its
#   last checkpoint, dropping the metrics rows after it.
set -euo pipefail
. "$(dirname "$0")/sab_train_or_resume.sh"
SRC=$1 DST=$2 UPDATES=$3
shift 3
OUT=${OUT:-results/sab_copying_long.json}
T=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['config']['task']['T'])" "$SRC/config.json")
L=$((T + 20))
if [ ! -d "$DST" ]; then
  [ -f "$SRC/summary.json" ] || { echo "sab_continue: $SRC has not finished (no summary.json); resume it instead" >&2; exit 2; }
  cp -r "$SRC" "$DST.tmp" && rm "$DST.tmp/summary.json"
  [ "${FROM_BEST:-0}" = 1 ] && cp "$DST.tmp/best.pt" "$DST.tmp/checkpoint.pt"
  mv "$DST.tmp" "$DST"
fi
[ -f "$DST/summary.json" ] || nobptt train --resume "$DST" --steps $((UPDATES * L)) "$@"
[ "${NO_TEST:-0}" = 1 ] || test_copying "$DST" "$T" "$OUT"
