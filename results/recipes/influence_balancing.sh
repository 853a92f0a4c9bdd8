#!/bin/bash
# influence balancing: RTRL, UORO, truncated BPTT(10;10), seed 0, then one training record with curves
set -e
cd "$(dirname "$0")/../.."
for L in rtrl uoro tbptt10; do
  rm -rf runs/influence_$L-s0
  /usr/bin/time -f "$L %e s" python -m nobptt train influence_$L --run-dir runs/influence_$L-s0 --set train.progress=false 2>&1 | tail -2
done
python - <<'PY'
import torch
for L in ("rtrl", "uoro", "tbptt10"):
    ck = torch.load(f"runs/influence_{L}-s0/checkpoint.pt", weights_only=False)
    theta = [v for k, v in ck["learner"].items() if k.endswith("theta")][0]
    print(L, "step", ck["step"], "theta", float(theta))
PY
python -m nobptt report runs/influence_rtrl-s0 runs/influence_uoro-s0 runs/influence_tbptt10-s0 --name influence_balancing \
  --labels "RTRL,UORO,truncated BPTT k = 10" --out results --note "..."
