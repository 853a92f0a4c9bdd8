"""Gradient clipping, applied by the trainer to every learner alike (``[optim]`` grad_clip*).

A learner says only what to clip, through two hooks of ``learners.base.Learner``:
``clip_parameters()`` (None: never clipped, no norm logged, as the bRSM family's local updates;
the LSTM baseline clips its cell only) and ``grad_parts()`` (named parts whose norms are logged as
``grad_norm_NAME``, e.g. SAB's lstm / attention / head). The ``Clipper`` owns the state of the
adaptive clips (``MedianClip``'s norm history, ``ClipWarmup``'s update count); the trainer saves it
in the checkpoint under "clipping".

The order of operations is the one the learners used when they clipped inside ``learn`` (tested in
tests/test_clipping.py against a reference of it): after the backward of an update, part norms,
then the warm-up's limit, the global clip at the lower of it and the median clip's limit, the
median history (finite norms only), the warm-up count; then the trainer's non-finite check, then
the optimizer step.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from nobptt.errors import ConfigError
from nobptt.train.optim import OptimConfig


class MedianClip(nn.Module):
    """A clip that tracks the run's own gradient size: an update is clipped at ``factor`` times the
    median pre-clip norm of the last ``window`` updates, so it acts on bursts only.

    Why (docs/sab.md, the validation collapses): SAB's validation collapses each fell on
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
    run's usual limit (0 = no clipping, as for ``clip_gradients``).

    Why (docs/sab.md, clip 0.1 after a warm-up): at copying T = 100 a clip of 0.1 from the start
    took SAB's seed 0 past 99% but broke seed 2 at its first gradient burst (update ~1,060), one
    the same seed recovered from at clip 1.0 within 40 updates. A warm-up at the release's 1.0
    keeps the early bursts as they were and applies the low clip after them. The count is a
    buffer, so a resumed run switches at the same update."""

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
    these tell whether a burst starts in the recurrent cell, the attention or the read-out
    (docs/sab.md). A part without gradients logs 0."""
    norms = {}
    for name, part in parts.items():
        grads = [p.grad.detach().flatten() for p in part.parameters() if p.grad is not None]
        norms[f"grad_norm_{name}"] = float(torch.cat(grads).norm()) if grads else 0.0
    return norms


def clip_gradients(parameters: Iterable[nn.Parameter], max_norm: float,
                   median_clip: MedianClip | None = None) -> dict[str, float]:
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


# Old checkpoints: until the adaptive clips moved here (issue 37) they were learner submodules, so
# their buffers sit in the checkpoint's learner state under these prefixes; the keys are the same
# in this module, so they are mapped (moved over), not refused.
_OLD_PREFIXES = ("median_clip.", "clip_warmup.")


class Clipper(nn.Module):
    """Clips a learner's gradients after each update's backward, as ``[optim]`` says."""

    def __init__(self, config: OptimConfig, learner: Any) -> None:
        super().__init__()
        self.max_norm = config.grad_clip
        self.parameters_of = learner.clip_parameters
        self.parts_of = learner.grad_parts
        if learner.clip_parameters() is None and config.clips():
            raise ConfigError(f"{type(learner).__name__} is not clipped (its updates are local): leave "
                             "optim.grad_clip, optim.grad_clip_median and optim.grad_clip_early_updates at 0")
        # registered only when on, so the checkpoints of runs without them keep their keys
        self.median_clip = MedianClip(config.grad_clip_median, config.grad_clip_window) \
            if config.grad_clip_median else None
        self.clip_warmup = ClipWarmup(config.grad_clip_early, config.grad_clip_early_updates) \
            if config.grad_clip_early_updates else None

    def clip(self) -> dict[str, float]:
        """Clip the gradients of an update in place; the part norms, ``grad_norm`` and ``clipped``
        to log with its losses ({} for a learner that is not clipped)."""
        parameters = self.parameters_of()
        if parameters is None:
            return {}
        norms = part_grad_norms(self.parts_of())  # before clipping, like grad_norm
        max_norm = self.clip_warmup.max_norm(self.max_norm) if self.clip_warmup else self.max_norm
        clipping = clip_gradients(parameters, max_norm, self.median_clip)
        if self.clip_warmup:
            self.clip_warmup.record()
        return {**norms, **clipping}

    def adopt_old_learner_state(self, learner_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Checkpoints written before the clips moved here kept their buffers in the learner's
        state_dict ("median_clip.norms", "clip_warmup.seen", ...): load those into this clipper
        and return the learner's state without them, so old run folders resume and evaluate."""
        moved = {k: v for k, v in learner_state.items() if k.startswith(_OLD_PREFIXES)}
        if moved:
            self.load_state_dict(moved)
        return {k: v for k, v in learner_state.items() if k not in moved}


def without_old_clip_state(learner_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The learner's state_dict of an old checkpoint without the clip buffers it then held (for
    evaluation, which needs no clipper)."""
    return {k: v for k, v in learner_state.items() if not k.startswith(_OLD_PREFIXES)}
