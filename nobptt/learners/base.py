"""The learner API the generic trainer relies on.

A learner is an ``nn.Module`` whose recurrent state is explicit: the trainer owns the state and
passes it in and out, so checkpointing, resuming and running several streams never need to
reach inside a learner. Learning writes gradients into ``p.grad``; the trainer's optimizer applies
them. Local learners (bRSM) write a gradient every step; BPTT-family learners may accumulate
over a window and say when an update is ready.
"""
from __future__ import annotations

from collections.abc import Iterable
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
    # diagnostics; the trainer adds the gradient norms of its clip (nobptt.train.clipping)
    losses: dict[str, float] = field(default_factory=dict)
    update: bool = True  # True when p.grad holds a gradient the optimizer should apply now


class Learner(nn.Module):
    """Base class: subclasses implement the five methods below (the clip hooks are optional)."""

    def initial_state(self, batch_size: int, device: torch.device | str) -> State:
        raise NotImplementedError

    def learn(self, state: State, batch: Batch) -> tuple[State, StepOutput]:
        """One time step of training: predict, then write gradients into ``p.grad``."""
        raise NotImplementedError

    def infer(self, state: State, batch: Batch) -> tuple[State, torch.Tensor]:
        """One time step without learning (no gradients, no duty-cycle updates); returns logits."""
        raise NotImplementedError

    def infer_diagnostics(self, state: State, batch: Batch) -> dict[str, float]:
        """Diagnostics of the inference step about to run from ``state`` on ``batch``, that the
        held-out evaluation averages over its steps and records as ``heldout_NAME`` (e.g. the
        Phased LSTM's open fraction ``gate_open``: at inference a closed unit is an exact copy, so
        1 - gate_open of its multiply-adds need not be computed). None by default."""
        return {}

    def param_groups(self) -> list[dict[str, Any]]:
        """Optimizer parameter groups, each {"params": [...], "name": NAME}. The learning rates come
        from ``[optim]`` (``nobptt.train.optim``): ``lr`` for every group, ``classifier_lr`` for the
        group named "classifier"."""
        raise NotImplementedError

    def clip_parameters(self) -> Iterable[nn.Parameter] | None:
        """The parameters whose global gradient norm the trainer clips after an update (``[optim]``
        grad_clip*) and logs as ``grad_norm``; None (the default): never clipped, nothing logged."""
        return None

    def grad_parts(self) -> dict[str, nn.Module]:
        """Named parts whose gradient norms are logged before the clip (``grad_norm_NAME``)."""
        return {}

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


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
