#!/bin/bash
# Issue 41: the flat bRSM at the paper's schedule (ptb_brsm) with the classifier's training step in
# bfloat16 (model.classifier_precision) and early stopping once validation has not improved for three
# evaluations (train.patience = 3); run on the 2-core CPU with nothing else running (its training
# time is the figure). Its validation curve at equal steps against the float32 run
# (results/ptb_brsm_full.json) decides whether bfloat16 is kept (within 0.5 perplexity).
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD
export NOBPTT_DATA=${NOBPTT_DATA:-../shared/data}
run=runs/ptb_brsm_bf16
if [ -f $run/checkpoint.pt ] && [ ! -f $run/summary.json ]; then
  python -m nobptt train --resume $run || exit $?
elif [ ! -f $run/summary.json ]; then
  python -m nobptt train ptb_brsm --set model.classifier_precision=bfloat16 --set train.patience=3 --run-dir $run || exit $?
fi
python -m nobptt lm evaluate $run --out results/ptb_brsm_bf16.json \
  --label "bRSM, the paper's schedule, bfloat16 classifier step, early stopping (patience 3)"
