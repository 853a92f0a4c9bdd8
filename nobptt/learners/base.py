"""The learner API the generic trainer relies on.

A learner is an ``nn.Module`` whose recurrent state is explicit: the trainer owns the state and
passes it in and out, so checkpointing, resuming and running several streams never need to
reach inside a learner. Learning writes gradients into ``p.grad``; the trainer's optimizer applies
them. Local learners (bRSM) write a gradient every step; BPTT-family learners may accumulate
over a window and say when an update is ready.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from nobptt.tasks.base import Batch

State = dict[str, Any]


@dataclass
class StepOutput:
    """What one training step returns to the trainer."""

    # (B, n_classes), computed BEFORE this step's update (prequential); None when the learner made
    # no prediction this step (e.g. a bRSM whose classifier has not started learning yet)
    logits: torch.Tensor | None
    # scalars the trainer averages per epoch into metrics.jsonl and checks for NaN: the losses, and
    # diagnostics such as the gradient norm (clip_gradients)
    losses: dict[str, float] = field(default_factory=dict)
    update: bool = True  # True when p.grad holds a gradient the optimizer should apply now


class Learner(nn.Module):
    """Base class: subclasses implement the five methods below."""

    def initial_state(self, batch_size: int, device: torch.device | str) -> State:
        raise NotImplementedError

    def learn(self, state: State, batch: Batch) -> tuple[State, StepOutput]:
        """One time step of training: predict, then write gradients into ``p.grad``."""
        raise NotImplementedError

    def infer(self, state: State, batch: Batch) -> tuple[State, torch.Tensor]:
        """One time step without learning (no gradients, no duty-cycle updates); returns logits."""
        raise NotImplementedError

    def param_groups(self) -> list[dict[str, Any]]:
        """Optimizer parameter groups, each with its own learning rate."""
        raise NotImplementedError

    def on_epoch_end(self) -> None:
        """Called every ``train.epoch_steps`` steps (schedules such as boost decay)."""


def detach_state(state: State) -> State:
    """Cut every tensor in ``state`` from the graph: no gradient crosses this point in time."""
    return {k: (v.detach() if isinstance(v, torch.Tensor) else v) for k, v in state.items()}


def forget_streams(state: State, reset: torch.Tensor | None) -> State:
    """Zero the per-stream state tensors of streams flagged in ``reset`` (B,) bool."""
    if reset is None or not bool(reset.any()):
        return state
    keep = (~reset).to(next(v for v in state.values() if isinstance(v, torch.Tensor)).dtype)
    return {k: (v * keep.view(-1, *([1] * (v.dim() - 1))) if isinstance(v, torch.Tensor) else v)
            for k, v in state.items()}


class MedianClip(nn.Module):
    """A clip that tracks the run's own gradient size: an update is clipped at ``factor`` times the
    median pre-clip norm of the last ``window`` updates, so it acts on bursts only.

    Why (README, "What the validation collapses are"): SAB's validation collapses each fell on
    one or a few updates whose norm was 3-40x the recent median, while the typical norm drifts
    from 0.2-0.3 early in training to 0.03 late; a fixed clip at 1.0 misses most bursts and one at
    0.1 clips nearly every early update. Until ``window`` norms have been seen it does nothing.
    The history is a buffer, so it is saved in checkpoints and a resumed run continues it. A
    median of an even number of norms is the lower middle one (torch.median)."""

    def __init__(self, factor: float, window: int) -> None:
        super().__init__()
        if factor <= 0 or window < 1:
            raise ValueError(f"a median clip needs factor > 0 and window >= 1 (got {factor}, {window})")
        self.factor = factor
        self.register_buffer("norms", torch.zeros(window, dtype=torch.float64))
        self.register_buffer("seen", torch.zeros((), dtype=torch.long))

    def limit(self) -> float:
        """The norm this update is clipped at: inf until the window is full."""
        if int(self.seen) < self.norms.numel():
            return float("inf")
        return self.factor * float(self.norms.median())

    def record(self, norm: float) -> None:
        self.norms[int(self.seen) % self.norms.numel()] = norm
        self.seen += 1


class ClipWarmup(nn.Module):
    """A clip limit that changes once: ``early`` for the first ``updates`` updates, then the
    learner's usual limit (0 = no clipping, as for ``clip_gradients``).

    Why (README, "Clip 0.1 after a warm-up"): at copying T = 100 a clip of 0.1 from the start took
    SAB's seed 0 past 99% but broke seed 2 at its first gradient burst (update ~1,060), one the
    same seed recovered from at clip 1.0 within 40 updates. A warm-up at the release's 1.0 keeps
    the early bursts as they were and applies the low clip after them. The count is a buffer, so a
    resumed run switches at the same update."""

    def __init__(self, early: float, updates: int) -> None:
        super().__init__()
        if early < 0 or updates < 1:
            raise ValueError(f"a clip warm-up needs a limit >= 0 and updates >= 1 (got {early}, {updates})")
        self.early, self.updates = early, updates
        self.register_buffer("seen", torch.zeros((), dtype=torch.long))

    def max_norm(self, late: float) -> float:
        """The limit for this update: ``early`` during the warm-up, ``late`` after it."""
        return self.early if int(self.seen) < self.updates else late

    def record(self) -> None:
        self.seen += 1


def part_grad_norms(parts: dict[str, nn.Module]) -> dict[str, float]:
    """The gradient norm of each named part of a learner (``grad_norm_NAME``), before clipping.

    Why: the global norm shows that an update burst, not where. Logged beside ``grad_norm``,
    these tell whether a burst starts in the recurrent cell, the attention or the read-out (README,
    "What the validation collapses are"). A part without gradients logs 0."""
    norms = {}
    for name, part in parts.items():
        grads = [p.grad.detach().flatten() for p in part.parameters() if p.grad is not None]
        norms[f"grad_norm_{name}"] = float(torch.cat(grads).norm()) if grads else 0.0
    return norms


def clip_gradients(parameters, max_norm: float, median_clip: MedianClip | None = None) -> dict[str, float]:
    """Clip the global norm of the gradients in ``p.grad`` to ``max_norm`` (0 = no clipping), and
    to ``median_clip``'s limit when given (the lower of the two applies), and return what to log
    with the losses: ``grad_norm``, the norm before clipping, and ``clipped``, 1.0 when it exceeded
    the limit. Averaged per epoch by the trainer, they give the mean norm and the fraction of
    updates clipped, the first things to read when a run's validation collapses; a non-finite
    norm stops the run at the trainer's NaN check, before the optimizer applies it (and is not
    recorded in the median clip's history)."""
    limit = max_norm if max_norm > 0 else float("inf")
    if median_clip is not None:
        limit = min(limit, median_clip.limit())
    norm = float(nn.utils.clip_grad_norm_(parameters, limit))
    if median_clip is not None and math.isfinite(norm):
        median_clip.record(norm)
    return {"grad_norm": norm, "clipped": float(norm > limit)}


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
