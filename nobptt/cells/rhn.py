"""The recurrent highway network cell (Zilly, Srivastava, Koutník & Schmidhuber 2017, "Recurrent
Highway Networks", ICML; docs/cells.md#recurrent-highway-network).

One time step is L highway micro-layers (the recurrence depth), s^[0] = s_{t-1}, s_t = s^[L]
(§3, eq. 6-9, with the coupled carry gate c = 1 - t that every experiment of the paper uses):

    h^[l] = tanh   (W_H x_t 1{l=1} + R_H^[l] s^[l-1] + b_H^[l])
    t^[l] = sigmoid(W_T x_t 1{l=1} + R_T^[l] s^[l-1] + b_T^[l])
    s^[l] = h^[l] * t^[l] + s^[l-1] * (1 - t^[l])

Decisions:

* **The input enters the first micro-layer only** (the paper's eq. 7-8 indicator; the author's
  remark that it "goes only into the first highway layer"); W = [W_H; W_T] is one (2n, d) matrix
  without a bias of its own (the micro-layers' biases already cover it).
* **Parameters**: ``weight_ih`` (2n, d), ``weight_hh`` (L, 2n, n) = R^[l] stacked with its H rows
  first, ``bias`` (L, 2n). So the parameter count is 2nd + 2Ln^2 + 2Ln: with the word-PTB model's
  tied embedding (d = n = 830, L = 10, 10k words, tied softmax with a bias) that is 23.48 M, the
  paper's "23M" (``lm_parameter_count``; tests/test_highway.py).
* **Initialisation**: every weight U(-1/sqrt(n), 1/sqrt(n)) as our other cells (the reference code:
  U(-0.04, 0.04), within 20% of that bound at n = 830); the transform-gate biases b_T at
  ``transform_bias`` = -2, the reference's ``init_bias`` for word PTB (-4 for enwik8 / text8), so
  each micro-layer starts mostly carrying its state (t ~ 0.12), the paper's §4 argument for deep
  transitions; b_H = 0.
* **No dropout in the cell**: the reference's variational dropout on inputs and state is a
  training regulariser of the full-size runs, left to a learner (docs/cells.md).

``depth`` is chosen in a config as ``model.cell = "rhn:10"`` (nobptt/cells/registry.py); plain
``"rhn"`` is depth 5, the middle of the paper's sweep (1 / 5 / 8 / 10).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from nobptt.cells.base import Cell, Params
from nobptt.cells.registry import register_cell
from nobptt.errors import ConfigError

DEPTH = 5
TRANSFORM_BIAS = -2.0  # the reference's init_bias for word PTB (rhn_train.py); -4 for characters


def highway_layer(s: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
    """One micro-layer from its pre-activations (B, 2n), H half first: s * (1 - t) + h * t."""
    h, t = pre.chunk(2, dim=-1)
    t = torch.sigmoid(t)
    return torch.tanh(h) * t + s * (1.0 - t)


@register_cell("rhn")
class RHNCell(Cell):
    def __init__(self, input_size: int, hidden: int, depth: int = DEPTH,
                 transform_bias: float = TRANSFORM_BIAS) -> None:
        super().__init__()
        if depth < 1:
            raise ConfigError(f"the RHN cell needs a recurrence depth >= 1; got {depth}")
        self.input_size, self.state_size, self.output_size = input_size, hidden, hidden
        self.hidden, self.depth = hidden, depth
        bound = 1.0 / math.sqrt(hidden)
        self.weight_ih = nn.Parameter(torch.empty(2 * hidden, input_size).uniform_(-bound, bound))
        self.weight_hh = nn.Parameter(torch.empty(depth, 2 * hidden, hidden).uniform_(-bound, bound))
        bias = torch.zeros(depth, 2 * hidden)
        bias[:, hidden:] = transform_bias
        self.bias = nn.Parameter(bias)

    def step(self, params: Params, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        s = h
        for layer in range(self.depth):
            pre = s @ params["weight_hh"][layer].T + params["bias"][layer]
            if layer == 0:  # the input enters the first micro-layer only
                pre = pre + x @ params["weight_ih"].T
            s = highway_layer(s, pre)
        return s


def lm_parameter_count(vocab: int, hidden: int, depth: int, tied: bool = True) -> int:
    """Parameters of the RHN word language model of the paper's Table 3 setting: an embedding of
    ``hidden`` dimensions per word, one RHN layer, a softmax with a bias whose weight is the
    embedding when ``tied`` (Press & Wolf 2017; the reference's ``tied = True``). Counted from
    the cell built on the meta device, so no memory is allocated."""
    with torch.device("meta"):
        cell = RHNCell(hidden, hidden, depth=depth)
    embedding = vocab * hidden
    softmax = vocab + (0 if tied else vocab * hidden)
    return sum(p.numel() for p in cell.parameters()) + embedding + softmax
