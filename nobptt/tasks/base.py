"""What every task hands the trainer: a stream of batches, one time step at a time."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch


@dataclass
class Batch:
    """One time step of B parallel streams.

    The learner sees ``x`` (the input at step t) and is scored on predicting ``target_x``
    (the input at step t+1) and ``target_label`` (the label at step t+1).
    """

    x: torch.Tensor  # (B, input_dim) float, input at step t
    label: torch.Tensor  # (B,) long, label of x
    target_x: torch.Tensor  # (B, input_dim) float, input at step t+1
    target_label: torch.Tensor  # (B,) long, label at step t+1
    reset: torch.Tensor | None = None  # (B,) bool: streams whose history must be forgotten first
    weight: torch.Tensor | None = None  # (B,) float: how much each target counts when scoring (0 = padding)
    # (B, n_outputs) float: a regression target (e.g. the adding problem's sum); when present the
    # learner's outputs are read as values, scored by squared error, not as logits
    target_value: torch.Tensor | None = None
    # (B, n_outputs) float in [0, 1]: Bernoulli targets (e.g. the next frame's pixels of a video);
    # when present the learner's outputs are read as per-output logits, scored by ``bernoulli_scores``
    target_prob: torch.Tensor | None = None
    ends_sequence: bool = False  # every stream's episode ends with this step (synchronised episodes)
    # (B,) bool: False where the stream's step is padding, not input (e.g. the left padding of the
    # frequency task's variable-length sequences); None = every step is input. Only diagnostics
    # read it (Cell.step_metrics): a task that pads also resets the padded streams (``reset``), so
    # the first real step starts from the initial state, as a masked recurrent layer would.
    mask: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> "Batch":
        """The batch on ``device``: itself when every tensor is there already (the trainer moves
        every step's batch, and a stream built on the run's device makes them there)."""
        device = torch.device(device)
        fields = vars(self)
        if all(v.device == device for v in fields.values() if isinstance(v, torch.Tensor)):
            return self
        return Batch(**{k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in fields.items()})


def bernoulli_scores(logits: torch.Tensor, target_prob: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-stream scores of (B, D) ``logits`` against (B, D) Bernoulli targets in [0, 1]:
    (bce, sse), each (B,): the binary cross-entropy with logits (nats) summed over the D outputs,
    and the squared error of the probabilities, sum_d (sigmoid(logit_d) - target_d)^2. Summed over
    outputs, so a video's scores are per frame (docs/bouncing.md#metrics). d bce / d logit =
    sigmoid(logit) - target, the gradient every learner trains on."""
    target = target_prob.to(logits.dtype)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
    sse = ((torch.sigmoid(logits) - target) ** 2).sum(-1)
    return bce, sse


class Stream(Protocol):
    """An endless, checkpointable source of batches."""

    batch_size: int
    input_dim: int
    n_classes: int
    length: int | None  # steps in one pass of a finite stream (an evaluation set); None = endless

    def next_batch(self) -> Batch: ...

    def ceilings(self) -> dict[str, float]:
        """Named reference levels printed next to measured results: accuracy ceilings ("bayes",
        "orderN") and chance levels ("chance" accuracy, "chance_nll" nats, "chance_mse")."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...
