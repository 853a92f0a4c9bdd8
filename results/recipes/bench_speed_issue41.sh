#!/bin/bash
# Issue 41, speed rows on an idle machine (timings: run nothing else), one thread each:
#   SAB on copying at T = 100 in its four variants (sparse attention, dense attention, the LSTM by
#   truncated BPTT k = 5, by full BPTT), both paths for sparse; the cells added by issue 43 on
#   character PTB at equal parameters (ptb_char_cells) and on the frequency task. FLOPs per step
#   counted and the matmul rate measured in the same process (docs/bench.md).
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD
T1="train.threads=1"
python -m nobptt bench speed --experiment copying_sab --steps 120 \
  --variant "sab_sparse_fast=model.impl=fast;$T1" --variant "sab_sparse_reference=model.impl=reference;$T1" \
  --variant "sab_dense=model.attention=dense;$T1" --variant "sab_truncated_k5=model.attention=none;$T1" \
  --variant "sab_full_bptt=model.attention=none;model.k_trunc=0;$T1" \
  --out results/bench_speed_sab_variants.csv || exit $?
python -m nobptt bench speed --experiment ptb_char_cells --steps 100 \
  --variant "lstm=$T1" --variant "rhn1=model.cell=rhn:1;model.hidden=189;$T1" \
  --variant "rhn5=model.cell=rhn:5;model.hidden=92;$T1" --variant "rhn10=model.cell=rhn:10;model.hidden=67;$T1" \
  --variant "hyperlstm=model.cell=hyperlstm;model.hidden=116;$T1" --variant "hrhn7=model.cell=hrhn:7;model.hidden=76;$T1" \
  --out results/bench_speed_cells.csv || exit $?
# the Phased LSTM reads a timestamp: timed on the frequency task, eager and compiled (model.compile)
python -m nobptt bench speed --experiment freq_plstm --steps 125 --variant "plstm=$T1" \
  --variant "plstm_compiled=model.compile=true;$T1" --variant "lstm=model.cell=lstm;$T1" \
  --variant "lstm_compiled=model.cell=lstm;model.compile=true;$T1" --out results/bench_speed_freq.csv || exit $?
# where a step's time goes, for the two largest runs of issue 43 (added 2026-12-07, after the first
# pass of the rows above; rerunning this file remeasures them all)
python -m nobptt bench profile --experiment freq_plstm --set train.threads=1 \
  --out results/profiles/freq_plstm.csv | tail -3
python -m nobptt bench profile --experiment ptb_char_cells --set model.cell=hrhn:7 --set model.hidden=76 \
  --set train.threads=1 --out results/profiles/ptb_char_cells_hrhn7.csv | tail -3
