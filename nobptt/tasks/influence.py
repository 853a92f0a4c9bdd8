"""Influence balancing (Tallec & Ollivier 2018, "Unbiased Online Recurrent Optimization", ICLR;
docs/online.md#influence-balancing): the UORO paper's synthetic task, on which truncated BPTT
follows a gradient of the wrong sign. The setup is that of google-research's
persistent_es/influence_balancing.py, written from the paper's description (n = 23, 10 plus units,
state 1, theta 0.5), which also scores theta by a long unroll from the initial state, as our
held-out stream does.

The task is trivial on purpose: every step's input is x = 1 (one channel) and the target is the
value 1 (regression, ``Batch.target_value``), read from the first unit of the ``influence`` cell
(nobptt/cells/influence.py) with ``model.readout = "none"``: l_t = 0.5 (s_0 - 1)^2. All the
difficulty is in the cell's dynamics, where theta's influence on s_0 changes sign after 40 steps.
The paper runs one endless sequence (B = 1) from the state 1, so the stream flags a reset only at
its very first step, and it draws nothing at random: every seed gives the same stream.

The held-out and test streams are the same sequence from a fresh state, ``eval_warmup`` unscored
steps (weight 0) and then ``eval_length`` scored ones: the warm-up outlasts the transient from the
initial state (A^k's entries are below 1e-20 by k = 200 at n = 23), so the held-out MSE is the
steady state's (s_0 - 1)^2, zero at theta*. There is nothing to hold out; these streams exist so
that the trainer's evaluation and ``nobptt eval`` work as for every task. Ceilings: none, because
the best loss depends on the cell (theta* = -1/6 for the paper's cell,
``nobptt.cells.influence.optimal_theta``), not on the task.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from nobptt.errors import ConfigError
from nobptt.tasks.base import Batch
from nobptt.tasks.registry import register_task
from nobptt.validation import check_ranges


class InfluenceStream:
    """B identical streams of x = 1, target 1; endless, or ``length`` steps of which the first
    ``warmup`` are unscored."""

    input_dim = 1
    n_classes = 1  # one regression output: s_0

    def __init__(self, batch_size: int = 1, length: int | None = None, warmup: int = 0,
                 device: torch.device | str = "cpu") -> None:
        self.batch_size, self.length, self.warmup = batch_size, length, warmup
        self.device = torch.device(device)
        self.step = 0

    def next_batch(self) -> Batch:
        if self.length is not None and self.step >= self.length:
            raise StopIteration(f"the influence evaluation pass has only {self.length} steps")
        first, scored = self.step == 0, self.step >= self.warmup
        self.step += 1
        ones = torch.ones(self.batch_size, 1, device=self.device)
        zeros = torch.zeros(self.batch_size, dtype=torch.long, device=self.device)
        return Batch(x=ones, label=zeros, target_x=ones.clone(), target_label=zeros.clone(),
                     reset=torch.full((self.batch_size,), first, dtype=torch.bool, device=self.device),
                     weight=None if self.length is None else torch.full((self.batch_size,), float(scored),
                                                                          device=self.device),
                     target_value=ones.clone())

    def ceilings(self) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])


@dataclass
class InfluenceConfig:
    batch_size: int = 1  # parallel identical streams (the paper: 1)
    eval_warmup: int = 200  # unscored steps of a held-out / test pass from the state 1 (the transient)
    eval_length: int = 100  # scored steps after them (the steady state's loss)

    def __post_init__(self) -> None:
        check_ranges(self, positive="batch_size eval_length", non_negative="eval_warmup")


@register_task("influence", config=InfluenceConfig,
               description="influence balancing (UORO paper): x = 1, target s_0 = 1; use cell 'influence', readout 'none'")
def influence_stream(config: InfluenceConfig, split: str, seed: int, device: str) -> InfluenceStream:
    if split == "train":
        return InfluenceStream(config.batch_size, device=device)
    if split in ("heldout", "test"):
        return InfluenceStream(config.batch_size, config.eval_warmup + config.eval_length, config.eval_warmup,
                               device)
    raise ConfigError(f"task 'influence' has no {split!r} stream: use train, heldout or test")
