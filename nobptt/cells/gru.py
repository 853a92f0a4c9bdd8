"""The gated recurrent unit (Cho et al. 2014), in torch.nn.GRUCell's exact form and initialisation.

    r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)          reset gate
    z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)          update gate
    n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))       candidate
    h' = (1 - z) * n + z * h

The parameters have torch's names and shapes (``weight_ih`` (3H, D), ``weight_hh`` (3H, H),
``bias_ih`` and ``bias_hh`` (3H), gates stacked in the order r, z, n), so a torch.nn.GRUCell's
state_dict loads into this cell and back (tests/test_cells.py checks the two steps agree to 1e-12).
Both biases are kept, as torch keeps them: b_hn sits inside the reset gate's product, so it is not
redundant, and keeping the pair for r and z too makes the parameter count equal torch's.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from nobptt.cells.base import Cell, Params
from nobptt.cells.registry import register_cell


@register_cell("gru")
class GRUCell(Cell):
    def __init__(self, input_size: int, hidden: int) -> None:
        super().__init__()
        self.input_size, self.state_size, self.output_size = input_size, hidden, hidden
        self.hidden = hidden
        # torch.nn.GRUCell's initialisation: U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias
        bound = 1.0 / math.sqrt(hidden)
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden, input_size).uniform_(-bound, bound))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden, hidden).uniform_(-bound, bound))
        self.bias_ih = nn.Parameter(torch.empty(3 * hidden).uniform_(-bound, bound))
        self.bias_hh = nn.Parameter(torch.empty(3 * hidden).uniform_(-bound, bound))

    def step(self, params: Params, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        from_x = x @ params["weight_ih"].T + params["bias_ih"]
        from_h = h @ params["weight_hh"].T + params["bias_hh"]
        xr, xz, xn = from_x.chunk(3, dim=-1)
        hr, hz, hn = from_h.chunk(3, dim=-1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return (1 - z) * n + z * h
