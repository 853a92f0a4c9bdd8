# Sourced by the sab_*.sh scripts: train_or_resume RUN_DIR ARGS... trains a new run with
# `nobptt train ARGS --run-dir RUN_DIR`, resumes an unfinished one, and leaves a finished one alone.
train_or_resume() {
  local run="$1"; shift
  if [ -f "$run/checkpoint.pt" ] && [ ! -f "$run/summary.json" ]; then
    nobptt train --resume "$run"
  elif [ ! -f "$run/summary.json" ]; then
    nobptt train "$@" --run-dir "$run"
  fi
}
