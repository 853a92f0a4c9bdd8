#!/bin/bash
# 5 seeds of mackey_glass_esn, then a test evaluation of each recorded to results/mackey_glass_esn.json
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD
for s in 0 1 2 3 4; do
  python -m nobptt train mackey_glass_esn --seed $s --run-dir runs/mackey_glass_esn-s$s --set train.progress=false 2>&1 | tail -2
done
for s in 0 1 2 3 4; do
  python -m nobptt eval runs/mackey_glass_esn-s$s --split test --out results/mackey_glass_esn.json 2>&1 | tail -3
done
