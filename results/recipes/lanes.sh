# Sourced by the recipes that run two lanes of single-thread jobs side by side (a 2-core machine:
# one lane per core; a 2-thread run slows down several times when anything else runs beside it).
# run_lanes NAME runs the recipe's functions lane_a (in the background) and lane_b, each lane's
# output to sweeps/NAME.lane_a.log and .lane_b.log; it returns lane_a's failure, else lane_b's status.
run_lanes() {
  mkdir -p sweeps
  lane_a > "sweeps/$1.lane_a.log" 2>&1 &
  local a=$!
  lane_b > "sweeps/$1.lane_b.log" 2>&1
  local b=$?
  wait $a || return $?
  return $b
}
