# Sourced by the sab_*.sh scripts. train_or_resume RUN_DIR ARGS... trains a new run with
# `nobptt train ARGS --run-dir RUN_DIR`, resumes an unfinished one, and leaves a finished one alone.
train_or_resume() {
  local run="$1"; shift
  if [ -f "$run/checkpoint.pt" ] && [ ! -f "$run/summary.json" ]; then
    nobptt train --resume "$run"
  elif [ ! -f "$run/summary.json" ]; then
    nobptt train "$@" --run-dir "$run"
  fi
}

# test_adding RUN_DIR OUT: the run's best.pt on the test episodes, appended to OUT.
test_adding() {
  nobptt eval "$1" --checkpoint best.pt --split test --out "$2"
}

# test_copying RUN_DIR T OUT: the run's best.pt on the test episodes, and, for a model trained at
# T = 100, on test episodes of T = 200, 500, 1000 (transfer); each evaluation appended to OUT, the
# first with where its errors fall (--breakdown).
test_copying() {
  local run="$1" T="$2" out="$3"
  nobptt eval "$run" --checkpoint best.pt --split test --breakdown --out "$out"
  if [ "$T" = 100 ]; then
    for long in 200 500 1000; do
      nobptt eval "$run" --checkpoint best.pt --split test --set task.eval_T="$long" --out "$out"
    done
  fi
}
