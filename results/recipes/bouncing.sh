#!/bin/bash
# Bouncing MNIST and Bouncing notMNIST (32x32 canvas, two 14x14 glyphs, 20 frames), 3 seeds x 7
# learners at the same budget (20,000 steps of 16 sequences), one `nobptt sweep` per learner and
# glyph set (two runs at a time, one thread each; best.pt chosen on held-out BCE; each seed's test
# read once by the sweep); then the zero-shot table: every MNIST-trained run evaluated, frozen, on
# Bouncing notMNIST's test split (P-TNCN also without its state correction, beta_eval = 0).
# Rerunning continues where it stopped (finished runs are skipped, unfinished ones resume).
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD
learners=(ptncn esn tbptt bptt sab uoro rtrl)  # cheapest first
for glyphs in mnist notmnist; do for l in "${learners[@]}"; do
  python -m nobptt sweep bouncing_$l --seeds 0-2 --jobs 2 --threads 1 --set task.glyphs=$glyphs \
    --sweep-dir sweeps/bouncing_${glyphs}_$l --out results --name bouncing_${glyphs}_$l || exit $?
done; done
for l in "${learners[@]}"; do for s in 0 1 2; do
  run=sweeps/bouncing_mnist_$l/runs/s$s
  python -m nobptt eval $run --checkpoint best.pt --split test --set task.glyphs=notmnist \
    --out results/bouncing_zero_shot.json 2>&1 | tail -1
  if [ $l = ptncn ]; then
    python -m nobptt eval $run --checkpoint best.pt --split test --set task.glyphs=notmnist \
      --set model.beta_eval=0 --out results/bouncing_zero_shot.json 2>&1 | tail -1
  fi
done; done
# pictures (docs/bouncing.md): seed 0 of every learner, one held-out sequence (no test read), truth above prediction
mkdir -p docs/images/bouncing
for glyphs in mnist notmnist; do for l in "${learners[@]}"; do
  python -m nobptt frames sweeps/bouncing_${glyphs}_$l/runs/s0 --checkpoint best.pt --split heldout --sequences 1 \
    --out docs/images/bouncing/${glyphs}_$l.png 2>&1 | tail -1
done; done
