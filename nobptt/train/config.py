"""The ``[train]`` section: the trainer's own fields (the optimizer's are ``[optim]``,
``nobptt.train.optim.OptimConfig``)."""
from __future__ import annotations

from dataclasses import dataclass

from nobptt.validation import check_ranges


@dataclass
class TrainConfig:
    steps: int = 10_000  # time steps (= batches of parallel streams = optimizer steps)
    epoch_steps: int = 100  # metrics row + learner.on_epoch_end() every this many steps
    eval_every: int = 1000  # held-out evaluation interval in steps; 0 = only at the end
    eval_from_step: int = 0  # no held-out evaluation before this step (e.g. before a read-out learns)
    eval_steps: int = 100  # scored held-out steps per evaluation
    eval_warmup: int = 20  # unscored held-out steps first, so the memory has some context
    checkpoint_every: int = 1000  # steps; the final step is always checkpointed
    seed: int = 0
    device: str = "cpu"  # cpu | cuda | cuda:N
    threads: int = 0  # torch.set_num_threads; 0 = leave torch's default
    # keep memory freed after an update for the next one (glibc; nobptt/train/allocator.py)
    keep_freed_memory: bool = True
    # flush denormal floats to zero on the CPU (torch.set_flush_denormal): gradients carried back
    # hundreds of steps through an LSTM shrink into the denormal range, where x86 arithmetic is many
    # times slower; full BPTT on adding at T = 400 ran 3.6x faster with it on an Intel Xeon (nobptt bench denormals)
    flush_denormal: bool = True
    progress: bool = True  # tqdm progress bar
    # comma-separated logged scalars whose per-epoch maximum is logged too, as NAME_max: the mean
    # gradient norm of an epoch dilutes a burst of a few updates (docs/sab.md); the maximum shows it
    log_max: str = "grad_norm"
    # Keep a copy of the checkpoint with the best held-out value of this metric (best.pt):
    # "heldout_nll" (lower is better) or "heldout_accuracy" (higher is better); "" = none.
    best_metric: str = ""
    # Early stopping: stop once ``best_metric`` has not improved for this many held-out
    # evaluations in a row (0 = never). The last checkpoint is saved where it stopped; best.pt holds
    # the best one, and a resume of a stopped run does not train further.
    patience: int = 0

    def __post_init__(self) -> None:
        check_ranges(self, positive="steps epoch_steps eval_steps",
                     non_negative="eval_every eval_from_step eval_warmup checkpoint_every seed threads patience")
