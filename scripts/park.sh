#!/usr/bin/env bash
# Carry unfinished runs from one session to the next. runs/ is ignored by git and the work tree is
# laid anew for each session, so a long run that a session cannot finish is lost with it unless its
# resumable files are committed. This copies them to parked/NAME (config.json, metrics.jsonl,
# checkpoint.pt, best.pt: about 2.7 MB for SAB at hidden 128), to be committed, and back.
# Usage:
#   bash scripts/park.sh runs/NAME [runs/NAME ...]   # park (or re-park) these runs
#   bash scripts/park.sh --restore                   # copy every parked run back to runs/NAME
#                                                      (a run folder already there is left alone)
# After --restore, the command that started a run resumes it (scripts/sab_train_or_resume.sh
# resumes a folder with a checkpoint and no summary.json; `nobptt train --resume runs/NAME` too).
# A parked run that has since finished is removed with `git rm -r parked/NAME`.
# env: PARKED (default parked), RUNS (default runs)
set -euo pipefail
PARKED=${PARKED:-parked}
RUNS=${RUNS:-runs}
FILES="config.json metrics.jsonl checkpoint.pt best.pt"

if [ "${1:-}" = "--restore" ]; then
  for dir in "$PARKED"/*/; do
    [ -d "$dir" ] || continue
    name=$(basename "$dir")
    if [ -e "$RUNS/$name" ]; then
      echo "left alone: $RUNS/$name exists"
    else
      mkdir -p "$RUNS"
      cp -r "$dir" "$RUNS/$name"
      echo "restored $RUNS/$name"
    fi
  done
  exit 0
fi

[ $# -gt 0 ] || { echo "usage: bash scripts/park.sh RUN_DIR... | --restore" >&2; exit 2; }
for run in "$@"; do
  if [ ! -f "$run/checkpoint.pt" ]; then
    echo "$run: no checkpoint.pt, nothing to resume from; not parked" >&2
    exit 2
  fi
  if [ -f "$run/summary.json" ]; then
    echo "$run: finished (summary.json); record it with nobptt eval instead of parking it" >&2
    exit 2
  fi
  name=$(basename "$run")
  # into a temporary folder first, so an interrupted copy leaves the earlier parked copy whole
  tmp="$PARKED/.$name.tmp"
  rm -rf "$tmp" && mkdir -p "$tmp"
  for f in $FILES; do
    if [ -f "$run/$f" ]; then cp "$run/$f" "$tmp/$f"; fi
  done
  rm -rf "${PARKED:?}/$name" && mv "$tmp" "$PARKED/$name"
  echo "parked $PARKED/$name"
done
