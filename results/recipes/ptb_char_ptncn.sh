#!/bin/bash
# Character PTB, issue 40: P-TNCN (ptb_char_ptncn: two latent layers of 250, batch 50, 150,000 steps)
# under the stream and the per-sentence protocol, beside the baselines at its size and budget
# (ptb_char_rnn250: a tanh RNN of 250 units; RTRL at 16 units; SAB's LSTM at 250 units), seed 0.
# 1. a probe (no test read) chooses the RNN learners' learning rate on held-out with truncated BPTT,
#    the cheapest exact learner, 10,000 steps each of 1e-3 / 3e-3 / 1e-2;
# 2. every run, two at a time, one thread each; 3. one test read of each best.pt.
# SAB is not run here: at P-TNCN's budget (ptb_char_sab with hidden 250, 50 streams, 150,000 steps) it
# ran 30-80 ms a step beside the other runs on the 2-core machine, over two hours projected, and was
# stopped at step 22,000; docs/ptncn.md cites SAB's own record instead (results/sab_ptb_char.json).
# UORO is cut to 50,000 steps: at about 37 ms a step on the shared machine the full budget would take
# about 90 minutes, over the issue's 45 minutes a run (its curve and projected cost are in the record).
# Rerunning continues where it stopped (finished runs are skipped, unfinished ones resume).
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD
export NOBPTT_DATA=${NOBPTT_DATA:-../shared/data}
python -m nobptt sweep ptb_char_rnn250 --seeds 0 --grid optim.lr=1e-3,3e-3,1e-2 --no-test --jobs 2 --threads 1 \
  --set train.steps=10000 --set train.eval_every=10000 --sweep-dir sweeps/ptb_char_rnn250_lr \
  --out results --name ptb_char_rnn250_lr || exit $?
lr=$(python -m nobptt sweep --chosen results/ptb_char_rnn250_lr.json) || exit $?
echo "learning rate chosen on held-out: $lr"
S="--set task.name=ptb_char_sentences"
variants=(
  "ptncn-stream|ptb_char_ptncn|"
  "ptncn-sentences|ptb_char_ptncn|$S"
  "uoro-stream|ptb_char_rnn250|--set model.name=uoro --set model.update_every=10 $lr --set train.steps=50000"
  "tbptt10-stream|ptb_char_rnn250|$lr"
  "tbptt10-sentences|ptb_char_rnn250|$S $lr"
  "bptt-sentences|ptb_char_rnn250|$S --set model.name=bptt $lr"
  "esn-stream|ptb_char_rnn250|--set model.name=esn $lr"
  "rtrl16-stream|ptb_char_rnn250|--set model.name=rtrl --set model.hidden=16 --set model.update_every=10 $lr"
)
run_one() {
  IFS='|' read -r name experiment args <<< "$1"
  dir=runs/ptb_char_ptncn_cmp-$name-s0
  [ -f $dir/summary.json ] && return
  if [ -d $dir ]; then python -m nobptt train --resume $dir > $dir.log 2>&1; return; fi
  python -m nobptt train $experiment --seed 0 --run-dir $dir $args --set train.progress=false > $dir.log 2>&1
}
export -f run_one
printf '%s\n' "${variants[@]}" | xargs -P 2 -I{} bash -c 'run_one "{}"'
# UORO did not learn at the shared rate (held-out 4.36 bits, the unigram level): its own probe, as the
# truncated BPTT one, chooses a rate for a second UORO run (both are reported)
python -m nobptt sweep ptb_char_rnn250 --seeds 0 --grid optim.lr=3e-4,1e-3,3e-3 --no-test --jobs 2 --threads 1 \
  --set model.name=uoro --set model.update_every=10 --set train.steps=10000 --set train.eval_every=10000 \
  --sweep-dir sweeps/ptb_char_rnn250_uoro_lr --out results --name ptb_char_rnn250_uoro_lr || exit $?
uoro_lr=$(python -m nobptt sweep --chosen results/ptb_char_rnn250_uoro_lr.json) || exit $?
echo "UORO's learning rate chosen on held-out: $uoro_lr"
variants+=("uoro-own-lr-stream|ptb_char_rnn250|--set model.name=uoro --set model.update_every=10 $uoro_lr --set train.steps=50000")
[ "$uoro_lr" = "$lr" ] || run_one "${variants[-1]}"
[ "$uoro_lr" = "$lr" ] && unset 'variants[-1]'
for v in "${variants[@]}"; do
  name=${v%%|*}
  [ -f runs/ptb_char_ptncn_cmp-$name-s0/test_reads.json ] && continue  # read once, on an earlier pass
  python -m nobptt eval runs/ptb_char_ptncn_cmp-$name-s0 --checkpoint best.pt --split test \
    --out results/ptb_char_ptncn.json 2>&1 | tail -1
done
