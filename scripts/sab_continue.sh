#!/usr/bin/env bash
# Continue a finished copying or adding run for more updates in a new run folder, then test it
# like sab_copying.sh / sab_adding.sh do (test split; for copying trained at T = 100 also transfer
# to T = 200, 500, 1000).
# The source folder is left as it is (its results stay valid); the copy's config.json keeps the
# first training command and lists the resume ("resumed": command, step, machine, commit).
# Usage: bash scripts/sab_continue.sh SRC_RUN DST_RUN UPDATES [--set KEY=VALUE ...]
#   UPDATES: the new total; --set changes the config for the continuation, e.g. a learning-rate
#   decay (optim.lr_decay, optim.lr_decay_every, optim.lr_decay_from, counted in time steps).
#   env: OUT (results file, default results/sab_copying_long.json, or sab_adding_long.json for an
#   adding run); NO_TEST=1 trains only (to
#   choose between continuations on validation before the chosen one is tested); FROM_BEST=1
#   continues from SRC's best.pt (its best validation point; a full checkpoint) instead of its
#   last checkpoint, dropping the metrics rows after it.
set -euo pipefail
. "$(dirname "$0")/sab_train_or_resume.sh"
SRC=$1 DST=$2 UPDATES=$3
shift 3
read -r TASK T < <(python -c "import json,sys; t = json.load(open(sys.argv[1]))['config']['task']; print(t['name'], t['T'])" "$SRC/config.json")
case "$TASK" in
  copying) L=$((T + 20)); OUT=${OUT:-results/sab_copying_long.json} ;;
  adding) L=$T; OUT=${OUT:-results/sab_adding_long.json} ;;
  *) echo "sab_continue: $SRC is a $TASK run; this script continues copying and adding runs" >&2; exit 2 ;;
esac
if [ ! -d "$DST" ]; then
  [ -f "$SRC/summary.json" ] || { echo "sab_continue: $SRC has not finished (no summary.json); resume it instead" >&2; exit 2; }
  cp -r "$SRC" "$DST.tmp" && rm "$DST.tmp/summary.json"
  [ "${FROM_BEST:-0}" = 1 ] && cp "$DST.tmp/best.pt" "$DST.tmp/checkpoint.pt"
  mv "$DST.tmp" "$DST"
fi
[ -f "$DST/summary.json" ] || nobptt train --resume "$DST" --steps $((UPDATES * L)) "$@"
if [ "${NO_TEST:-0}" != 1 ]; then
  if [ "$TASK" = copying ]; then test_copying "$DST" "$T" "$OUT"
  else test_adding "$DST" "$OUT"; fi
fi
