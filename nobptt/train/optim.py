"""The ``[optim]`` section: the optimizer, its learning rates, their decay schedule and the
gradient clip of a run, in one place.

Where a value comes from (``nobptt.config.resolve``): ``OptimConfig``'s defaults below, then the
learner's own defaults (``register_learner(..., optim={...})`` beside its class), then the
experiment's ``[optim]`` table, then ``--set optim.KEY=VALUE``. The trainer builds the optimizer
from it (``make_optimizer``), clips with it (``nobptt.train.clipping.Clipper``) and decays the
learning rates with it (``decay_learning_rate``); a learner only names its parameter groups.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from nobptt.errors import ConfigError
from nobptt.validation import check_ranges

OPTIMIZERS = ("adam", "sgd")


@dataclass
class OptimConfig:
    optimizer: str = "adam"  # adam | sgd (plain SGD, e.g. for Zaremba et al.'s LSTM language model)
    lr: float = 1e-3  # every parameter group's learning rate, unless a group has its own below
    # the learning rate of the parameter group named "classifier" (bRSM, LSTM read-outs); 0 = lr
    classifier_lr: float = 0.0
    # Adam's second-moment decay and epsilon (torch's defaults). After a quiet stretch Adam divides
    # a sudden large gradient by a second moment that still remembers the small ones, so a burst
    # becomes a step of a few times the lr whatever its norm; a shorter memory (e.g. 0.99) or a
    # larger epsilon damps that (docs/sab.md). Applied on resume too.
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    # Step decay of every group's learning rate: x lr_decay every lr_decay_every steps from step
    # lr_decay_from on (the first decay happens at lr_decay_from); lr_decay_every = 0: constant.
    lr_decay: float = 1.0
    lr_decay_every: int = 0
    lr_decay_from: int = 0
    # Global gradient-norm clip per update over the learner's clip_parameters(); 0 = off. A learner
    # whose clip_parameters() is None (the bRSM family's local updates) is never clipped.
    grad_clip: float = 0.0
    # also clip at this multiple of the median norm of the last grad_clip_window updates (bursts
    # only; clipping.MedianClip); 0 = off. Not in the SAB paper or release.
    grad_clip_median: float = 0.0
    grad_clip_window: int = 200
    # a warm-up: clip at grad_clip_early (0 = off) for the first grad_clip_early_updates updates,
    # then at grad_clip (clipping.ClipWarmup); 0 updates = no warm-up. Not in the paper or release.
    grad_clip_early: float = 1.0
    grad_clip_early_updates: int = 0
    # SGD only: heavy-ball momentum in [0, 1) and Nesterov's form of it (torch.optim.SGD's); the
    # defaults (0, false) are plain SGD, as before these fields existed. P-TNCN's official code
    # uses Nesterov momentum 0.95 (docs/ptncn.md).
    momentum: float = 0.0
    nesterov: bool = False

    def __post_init__(self) -> None:
        check_ranges(self, positive="lr", non_negative="classifier_lr lr_decay_every lr_decay_from grad_clip "
                     "grad_clip_median grad_clip_early grad_clip_early_updates", open_unit="adam_beta2")
        check_ranges(self, positive="lr_decay adam_eps grad_clip_window", open_unit="momentum")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optim.optimizer={self.optimizer!r} must be one of {OPTIMIZERS}")
        if not 0.0 <= self.adam_beta2 < 1.0 or self.adam_eps <= 0.0:
            raise ConfigError(f"optim.adam_beta2={self.adam_beta2} must be in [0, 1) and "
                              f"optim.adam_eps={self.adam_eps} > 0")
        if self.grad_clip < 0 or self.grad_clip_median < 0:
            raise ConfigError(f"optim.grad_clip={self.grad_clip} and optim.grad_clip_median="
                              f"{self.grad_clip_median} must be >= 0 (0 = off)")
        if self.grad_clip_median and self.grad_clip_window < 1:
            raise ConfigError(f"optim.grad_clip_window={self.grad_clip_window} must be >= 1")
        if self.grad_clip_early_updates < 0 or self.grad_clip_early < 0:
            raise ConfigError(f"optim.grad_clip_early_updates={self.grad_clip_early_updates} and "
                              f"optim.grad_clip_early={self.grad_clip_early} must be >= 0 (0 updates = no warm-up)")
        if (self.momentum or self.nesterov) and self.optimizer != "sgd":
            raise ConfigError(f"optim.momentum={self.momentum} and optim.nesterov={self.nesterov} apply to "
                              f"optim.optimizer='sgd' only, not {self.optimizer!r}; set them to 0 and false")
        if self.nesterov and not self.momentum:
            raise ConfigError("optim.nesterov=true needs optim.momentum > 0 (Nesterov's form of momentum); "
                              "set optim.momentum, e.g. 0.9, or nesterov=false")
        if self.lr_decay_every < 0 or self.lr_decay_from < 0:
            raise ConfigError(f"optim.lr_decay_every={self.lr_decay_every} and optim.lr_decay_from="
                              f"{self.lr_decay_from} must be >= 0")

    def clips(self) -> bool:
        """Whether any clip is configured (a learner without clip_parameters() must have none)."""
        return bool(self.grad_clip or self.grad_clip_median or
                    (self.grad_clip_early_updates and self.grad_clip_early))

    def group_lr(self, name: str) -> float:
        """The learning rate of the learner's parameter group ``name``."""
        return self.classifier_lr if name == "classifier" and self.classifier_lr else self.lr


def param_groups(learner: torch.nn.Module, config: OptimConfig) -> list[dict]:
    """The learner's parameter groups (``Learner.param_groups()``, each with a "name"), each given
    its learning rate from ``config``."""
    groups = [dict(group) for group in learner.param_groups()]
    names = {group.get("name") for group in groups}
    if config.classifier_lr and "classifier" not in names:
        raise ConfigError(f"optim.classifier_lr={config.classifier_lr} but this learner has no "
                          f"classifier parameter group (its groups: {sorted(map(str, names))}); "
                          "leave it at 0 and set optim.lr")
    for group in groups:
        group["lr"] = config.group_lr(group.get("name", ""))
    return groups


def make_optimizer(learner: torch.nn.Module, config: OptimConfig | None = None) -> torch.optim.Optimizer:
    """Adam (or SGD, with optional (Nesterov) momentum) over the learner's parameter groups; the fused kernel where torch has one.

    With one small update per time step, Adam's element-wise arithmetic is about a third of a
    bRSM step on a CPU; the fused implementation (same maths) removes most of it. beta1 stays
    torch's 0.9.
    """
    config = config or OptimConfig()
    # A learner with no parameter group (the esn's ridge readout, solved in closed form) still gets
    # an optimizer, over one empty group, so that stepping, decaying and checkpointing need no case
    # of their own; torch refuses an optimizer without any group.
    def groups() -> list[dict]:
        return param_groups(learner, config) or [{"params": [], "name": "none", "lr": config.lr}]
    cls = torch.optim.Adam if config.optimizer == "adam" else torch.optim.SGD
    if config.optimizer == "adam":
        extra = {"betas": (0.9, config.adam_beta2), "eps": config.adam_eps}
    else:  # momentum 0, nesterov false: torch's plain SGD, exactly as before the two fields existed
        extra = {"momentum": config.momentum, "nesterov": config.nesterov}
    try:
        optimizer = cls(groups(), fused=True, **extra)
    except (RuntimeError, TypeError, ValueError):
        return cls(groups(), **extra)
    optimizer.register_step_pre_hook(_contiguous_grads)
    return optimizer


def _contiguous_grads(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    """Make every gradient contiguous before a fused step. torch 2.13's fused CPU Adam and SGD read
    a non-contiguous gradient in the parameter's memory order, so a transposed view (which a
    learner writing p.grad by hand may produce: SAB's fast path did) moved each weight by another
    element's gradient (measured: a 4 x 3 weight 2e-3 off after one Adam step at lr 1e-3;
    tests/test_optim_fused.py). Autograd's gradients are contiguous already: nothing is copied."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is not None and not p.grad.is_contiguous():
                p.grad = p.grad.contiguous()


def decays_done(config: OptimConfig, steps: int) -> int:
    """How many times the learning rate has been decayed after ``steps`` steps."""
    every = config.lr_decay_every
    first = config.lr_decay_from or every  # the first step count it fires at
    return 0 if not every or steps < first else (steps - first) // every + 1


def decay_learning_rate(optimizer: torch.optim.Optimizer, config: OptimConfig, done: int) -> None:
    """Multiply every group's lr by ``lr_decay`` when ``done`` steps (counted after this step) is
    lr_decay_from, + lr_decay_every, ..."""
    every, start = config.lr_decay_every, config.lr_decay_from
    if every and done >= start and (done - start) % every == 0:
        for group in optimizer.param_groups:
            group["lr"] *= config.lr_decay
