"""The vanilla (Elman) tanh RNN cell: h' = tanh(W h + U x + b)."""
from __future__ import annotations

import math

import torch
from torch import nn

from nobptt.cells.base import Cell, Params
from nobptt.cells.registry import register_cell


@register_cell("rnn")
class TanhRNNCell(Cell):
    def __init__(self, input_size: int, hidden: int) -> None:
        super().__init__()
        self.input_size, self.state_size, self.output_size = input_size, hidden, hidden
        # torch.nn.RNNCell's initialisation: U(-1/sqrt(n), 1/sqrt(n)) for every weight and bias
        bound = 1.0 / math.sqrt(hidden)
        self.W = nn.Parameter(torch.empty(hidden, hidden).uniform_(-bound, bound))
        self.U = nn.Parameter(torch.empty(hidden, input_size).uniform_(-bound, bound))
        self.b = nn.Parameter(torch.empty(hidden).uniform_(-bound, bound))

    def step(self, params: Params, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(h @ params["W"].T + x @ params["U"].T + params["b"])
