"""The LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000), in
torch.nn.LSTMCell's exact form and initialisation, with its two state parts in one flat state.

    i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (W_ih x + b_ih + W_hh h + b_hh), split in 4
    c' = f * c + i * g
    h' = o * tanh(c')

The cell protocol wants one flat state per stream (nobptt/cells/base.py), so the state is
[h; c] of size 2 x hidden and ``output`` is its h half (what a readout sees). An influence matrix
therefore has 2H rows, as the reference notes count it for RTRL (related_models §4.1: "h and c
states -> 2n x 4n(n+d) entries").

Parameters have torch's names and shapes (``weight_ih`` (4H, D), ``weight_hh`` (4H, H), ``bias_ih``,
``bias_hh`` (4H), gates in the order i, f, g, o), so a torch.nn.LSTMCell's state_dict loads into this
cell (tests/test_cells.py checks the two steps agree to 1e-12). The two biases are redundant (only
their sum matters); they are kept so that the initialisation and the parameter count are torch's.

``forget_bias`` is added to the forget gate's ``bias_ih`` slice after torch's initialisation. Its
default is 0.0, i.e. exactly torch's LSTMCell; 1.0 is the value Jozefowicz et al. (2015, §2.2)
recommend for remembering over long lags. Deliberately not the default here: the BPTT baselines and
the online learners are compared on the same cell, and torch's initialisation is the one a
reader of any PyTorch baseline expects.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from nobptt.cells.base import Cell, Params
from nobptt.cells.registry import register_cell


@register_cell("lstm")
class LSTMCell(Cell):
    def __init__(self, input_size: int, hidden: int, forget_bias: float = 0.0) -> None:
        super().__init__()
        self.input_size, self.state_size, self.output_size = input_size, 2 * hidden, hidden
        self.hidden = hidden
        # torch.nn.LSTMCell's initialisation: U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias
        bound = 1.0 / math.sqrt(hidden)
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden, input_size).uniform_(-bound, bound))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden, hidden).uniform_(-bound, bound))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden).uniform_(-bound, bound))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden).uniform_(-bound, bound))
        if forget_bias:
            with torch.no_grad():
                self.bias_ih[hidden:2 * hidden] += forget_bias

    def step(self, params: Params, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        hidden, cell = h[..., :self.hidden], h[..., self.hidden:]
        gates = (x @ params["weight_ih"].T + params["bias_ih"]
                 + hidden @ params["weight_hh"].T + params["bias_hh"])
        i, f, g, o = gates.chunk(4, dim=-1)
        c_new = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
        h_new = torch.sigmoid(o) * torch.tanh(c_new)
        return torch.cat([h_new, c_new], dim=-1)

    def output(self, h: torch.Tensor) -> torch.Tensor:
        return h[..., :self.hidden]
