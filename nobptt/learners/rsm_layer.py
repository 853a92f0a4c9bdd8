"""The RSM memory layer: groups x cells, k-winners, a decaying recurrent trace (docs/ssmnist.md#the-rsm-layer).

One module covers the three published variants, because they differ only along independent axes:

* cells per group ``n``: the original RSM uses n > 1 (one winning cell per winning group);
  bRSM is "flattened" (n = 1).
* winner selection: ``boost`` (bRSM, duty-cycle boosting), ``inhibition`` (original RSM, a
  refractory trace) or ``none`` (plain top-k, for ablations).
* dendritic partition: the partitioned bRSM splits the groups into feed-forward-only,
  integrating and recurrent-only blocks (docs/ssmnist.md#the-rsm-layer); with both fractions 0 every group
  integrates.

Gradients never cross a time step: the caller passes a detached state, and everything derived
from the ranking (the mask) is detached too. Within the step, gradients reach W_f, W_r, the
biases and (when trainable) the per-cell trace decay.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from nobptt.learners.kwinners import BoostedKWinners, shifted_scores
from nobptt.learners.sparse_linear import sparse_input_linear
from nobptt.validation import check_ranges

SELECTIONS = ("boost", "inhibition", "none")


@dataclass
class LayerOutput:
    y: torch.Tensor  # (B, m*n) tanh of the masked dendritic sums; gradient flows through winners
    group_y: torch.Tensor  # (B, m) the winning cell's value per group (0 for losing groups)
    mask: torch.Tensor  # (B, m*n) binary, detached


class Partition:
    """Sizes of the feed-forward-only, integrating and recurrent-only group blocks."""

    def __init__(self, groups: int, ff_fraction: float, rec_fraction: float) -> None:
        if ff_fraction < 0 or rec_fraction < 0 or ff_fraction + rec_fraction > 1:
            raise ValueError(f"partition fractions ff={ff_fraction}, rec={rec_fraction} must be "
                             ">= 0 and sum to at most 1")
        self.ff_only = round(ff_fraction * groups)
        self.rec_only = round(rec_fraction * groups)
        self.integrating = groups - self.ff_only - self.rec_only


@dataclass
class RSMLayerConfig:
    """The memory layer's fields (the learner's config, ``rsm.RSMConfig``, extends these)."""

    groups: int = 1000  # m
    cells_per_group: int = 1  # n (1 = "flattened")
    k: int = 120  # winning groups per step
    selection: str = "boost"  # boost | inhibition | none
    boost_strength: float = 1.2  # beta_0
    boost_decay: float = 0.85  # beta <- beta * boost_decay every epoch
    duty_cycle_period: int = 1000  # samples
    inhibition_decay: float = 0.0  # gamma (selection = inhibition)
    ff_fraction: float = 0.0  # partitioned bRSM: share of feed-forward-only groups
    rec_fraction: float = 0.0  # partitioned bRSM: share of recurrent-only groups
    trace_decay: float = 0.0  # eps; with trainable_decay, the initial logit theta_0
    trainable_decay: bool = False
    decay_floor: float = 0.0
    normalise: bool = True
    input_bias: bool = False
    recurrent_bias: bool = False
    init_std: float = 0.03
    # Compute the recurrent (and the learner's decoder) products from the active units only
    # (sparse_linear.py); exact up to float summation order. Off by default: the recorded results
    # used dense products.
    sparse_products: bool = False

    def __post_init__(self) -> None:
        check_ranges(self, positive="groups cells_per_group k duty_cycle_period",
                     non_negative="boost_strength init_std",
                     unit="boost_decay inhibition_decay ff_fraction rec_fraction decay_floor")


class RSMLayer(nn.Module):
    def __init__(self, input_dim: int, config: RSMLayerConfig) -> None:
        super().__init__()
        c = config
        if c.selection not in SELECTIONS:
            raise ValueError(f"selection={c.selection!r} must be one of {SELECTIONS}")
        self.groups, self.cells, self.k = c.groups, c.cells_per_group, c.k
        self.units = c.groups * c.cells_per_group
        self.selection, self.inhibition_decay = c.selection, c.inhibition_decay
        self.normalise, self.decay_floor = c.normalise, c.decay_floor
        self.sparse_products = c.sparse_products
        self.part = Partition(c.groups, c.ff_fraction, c.rec_fraction)
        ff_groups = self.part.ff_only + self.part.integrating
        rec_cells = (self.part.integrating + self.part.rec_only) * c.cells_per_group
        # W_f has one vector per group, broadcast to its cells (docs/ssmnist.md#the-rsm-layer).
        self.feedforward = nn.Linear(input_dim, ff_groups, bias=c.input_bias) if ff_groups else None
        self.recurrent = nn.Linear(self.units, rec_cells, bias=c.recurrent_bias) if rec_cells else None
        self.winners = BoostedKWinners(c.groups, c.k, c.boost_strength if c.selection == "boost" else 0.0,
                                       c.boost_decay, c.duty_cycle_period)
        self._init_decay(c.trace_decay, c.trainable_decay)
        for module in (self.feedforward, self.recurrent):
            if module is not None:
                nn.init.normal_(module.weight, std=c.init_std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)  # TF inc7 uses zero biases; PyTorch used N(0, .03)

    def _init_decay(self, trace_decay: float, trainable: bool) -> None:
        # Trainable per-cell decay eps = 0.95 * sigmoid(theta) (PyTorch Flat_PTB_Best, §2.4);
        # trace_decay then gives theta's initial value, as in the reference (0.5 -> eps = 0.591).
        if trainable:
            self.decay_logit = nn.Parameter(torch.full((self.units,), float(trace_decay)))
        else:
            self.register_buffer("fixed_decay", torch.full((self.units,), float(trace_decay)))

    def decay(self) -> torch.Tensor:
        if hasattr(self, "decay_logit"):
            return 0.95 * torch.sigmoid(self.decay_logit)
        return self.fixed_decay

    def initial_state(self, batch_size: int, device: torch.device | str) -> dict[str, torch.Tensor]:
        zeros = lambda: torch.zeros(batch_size, self.units, device=device)  # noqa: E731
        state = {"yhat": zeros(), "trace": zeros()}
        if self.selection == "inhibition":
            state["inhibition"] = zeros()
        return state

    def recurrent_input(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        """r_t = max(eps * r_{t-1} [if above the floor], yhat_{t-1}) (docs/ssmnist.md#the-rsm-layer)."""
        decayed = self.decay() * state["trace"]
        if self.decay_floor > 0:
            decayed = decayed * (decayed > self.decay_floor)
        return torch.maximum(decayed, state["yhat"])

    def dendritic_sums(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """sigma per cell: W_f x broadcast over a group's cells plus W_r r, per partition block."""
        n, p = self.cells, self.part
        parts = []
        ff = self.feedforward(x).repeat_interleave(n, dim=1) if self.feedforward else None
        rec = None
        if self.recurrent is not None:  # r is k-sparse when the trace does not decay slowly
            rec = sparse_input_linear(self.recurrent, r) if self.sparse_products else self.recurrent(r)
        if p.ff_only:
            parts.append(ff[:, : p.ff_only * n])
        if p.integrating:
            parts.append(ff[:, p.ff_only * n:] + rec[:, : p.integrating * n])
        if p.rec_only:
            parts.append(rec[:, p.integrating * n:])
        return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]

    def select(self, sigma: torch.Tensor, state: dict[str, torch.Tensor], learn: bool) -> torch.Tensor:
        """Detached binary mask: one cell (the best) in each of the k best groups."""
        scores = shifted_scores(sigma)
        if self.selection == "inhibition":
            scores = scores * (1.0 - state["inhibition"])
        per_group = scores.view(-1, self.groups, self.cells)
        group_score, best_cell = per_group.max(dim=2)
        group_mask = self.winners(group_score, learn=learn)
        cell_mask = torch.zeros_like(per_group).scatter_(2, best_cell.unsqueeze(2), 1.0)
        return (cell_mask * group_mask.unsqueeze(2)).view(-1, self.units)

    def forward(self, x: torch.Tensor, state: dict[str, torch.Tensor], learn: bool
                ) -> tuple[LayerOutput, dict[str, torch.Tensor]]:
        r = self.recurrent_input(state)
        sigma = self.dendritic_sums(x, r)
        mask = self.select(sigma, state, learn)
        y = torch.tanh(mask * sigma)
        new_state = {"yhat": self.normalised(y).detach(), "trace": r.detach()}
        if self.selection == "inhibition":
            # Refractory trace phi = max(gamma * phi, mask): the binary-mask form of the TF
            # reference (inhibition_with_mask=True), which keeps 1 - phi within [0, 1].
            new_state["inhibition"] = torch.maximum(self.inhibition_decay * state["inhibition"], mask)
        group_y = y.view(-1, self.groups, self.cells).sum(dim=2)  # one non-zero cell per group
        return LayerOutput(y=y, group_y=group_y, mask=mask), new_state

    def normalised(self, y: torch.Tensor) -> torch.Tensor:
        """Sum normalisation of the recurrent output (x_b_norm / rb_norm_type='sum').

        We divide by the L1 norm rather than the signed sum used by the references: identical when
        all winners are positive (the usual case) but bounded when negative winners would make the
        signed sum close to zero and blow the recurrent input up (docs/ssmnist.md#where-we-differ-from-the-reference-code-on-purpose).
        """
        if not self.normalise:
            return y
        return y / (y.abs().sum(dim=1, keepdim=True) + 1e-9)
