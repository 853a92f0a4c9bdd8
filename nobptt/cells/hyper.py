"""Hyper-recurrent cells: a small recurrent net, run beside the main cell, generates the main cell's
per-step scalings of its weight matrices (docs/cells.md#hyperlstm-and-hrhn).

``hyperlstm`` (Ha, Dai & Le 2016, "HyperNetworks", §3.2 eq. 10-13, without layer normalisation):
a hyper LSTM of n_hyper units reads [h_{t-1}; x_t] and from its new output h^ produces, for each
gate k of the main LSTM (i, f, g, o), through a small embedding of ``embed`` dimensions,

    z_h = E_h h^ + e_h,   z_x = E_x h^ + e_x,   z_b = E_b h^          (embed each, per gate)
    d_h = P_h z_h,        d_x = P_x z_x,        b   = P_b z_b + b_0   (hidden each, per gate)
    gate pre-activation = d_h * (W_h h_{t-1}) + d_x * (W_x x_t) + b

so the main cell's weights are rescaled row by row at every step (the memory-efficient form of
generating W_h itself, eq. 12). State [h; c; h^; c^], output h.

``hrhn`` (Suarez 2017, "Character-Level Language Modeling with Recurrent Highway Hypernetworks",
NeurIPS; the official code's models/HyperRHN.py, read for the structure, not copied): a hyper RHN of
n_hyper units and a main RHN, both of depth L and both fed x_t; at micro-layer l the hyper state
s^[l] gives z^[l] = U_l s^[l] + c_l (hidden), which scales both halves (H and T) of the main
micro-layer's recurrent and input products:

    a^[l] = [z; z] * (R_l s^[l-1]) + b_l   (+ [z; z] * (W x_t) at l = 1)

then the RHN update (nobptt/cells/rhn.py). State [s; s^], output s.

Decisions, each documented in docs/cells.md:

* **Both start as their plain main cell**: the embeddings' weights E and the projections U start
  at 0, their biases at 1 (hyperlstm: e_h = e_x = 1 and P = 1 / embed, so d_h = d_x = 1 and the
  generated bias is 0; hrhn: c_l = 1), so at initialisation the main cell is exactly an LSTM / RHN
  and the hyper net's effect is learned from there. Suarez initialises every matrix orthogonally;
  Ha et al. start the scalings near 1 as here.
* **No layer normalisation** (Ha et al.'s best numbers use it), **no dropout** (Suarez's
  asymmetric gate dropout is a regulariser of the full-size run).
* **n_hyper = max(4, hidden // 8)** and embed = 4 unless given: the papers' ratios (Ha et al.:
  128 hyper units for 1000, embedding 4 ... 16; Suarez: 128 for 1000).
* In hrhn the hyper RHN does not read the main state (Suarez's two RHNs run side by side on x_t);
  in hyperlstm it does (Ha et al.'s x^ = [h_{t-1}; x_t]).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from nobptt.cells.base import Cell, Params
from nobptt.cells.registry import register_cell
from nobptt.cells.rhn import TRANSFORM_BIAS, highway_layer
from nobptt.errors import ConfigError

EMBED = 4
HRHN_DEPTH = 7  # Suarez's depth


def hyper_size(hidden: int) -> int:
    return max(4, hidden // 8)


def _uniform(*shape: int, fan: int) -> nn.Parameter:
    bound = 1.0 / math.sqrt(fan)
    return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))


def _lstm(pre: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(h', c') from gate pre-activations (B, 4n) in torch's order i, f, g, o."""
    i, f, g, o = pre.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


@register_cell("hyperlstm")
class HyperLSTMCell(Cell):
    def __init__(self, input_size: int, hidden: int, hyper: int | None = None, embed: int = EMBED) -> None:
        super().__init__()
        n, m = hidden, hyper or hyper_size(hidden)
        self.input_size, self.state_size, self.output_size = input_size, 2 * n + 2 * m, n
        self.hidden, self.hyper, self.embed = n, m, embed
        # the hyper LSTM, reading [h_{t-1}; x_t]
        self.hyper_ih = _uniform(4 * m, n + input_size, fan=m)
        self.hyper_hh = _uniform(4 * m, m, fan=m)
        self.hyper_bias = _uniform(4 * m, fan=m)
        # per gate (4), the embeddings z = E h^ + e and projections d = P z
        self.embed_h = nn.Parameter(torch.zeros(4, embed, m))
        self.embed_h_bias = nn.Parameter(torch.ones(4, embed))
        self.embed_x = nn.Parameter(torch.zeros(4, embed, m))
        self.embed_x_bias = nn.Parameter(torch.ones(4, embed))
        self.embed_b = nn.Parameter(torch.zeros(4, embed, m))
        self.scale_h = nn.Parameter(torch.full((4, n, embed), 1.0 / embed))
        self.scale_x = nn.Parameter(torch.full((4, n, embed), 1.0 / embed))
        self.scale_b = nn.Parameter(torch.full((4, n, embed), 1.0 / embed))
        # the main LSTM (torch's initialisation, as nobptt/cells/lstm.py)
        self.weight_ih = _uniform(4 * n, input_size, fan=n)
        self.weight_hh = _uniform(4 * n, n, fan=n)
        self.bias = _uniform(4 * n, fan=n)

    def _parts(self, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
        n, m = self.hidden, self.hyper
        return h[..., :n], h[..., n:2 * n], h[..., 2 * n:2 * n + m], h[..., 2 * n + m:]

    def step(self, params: Params, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        main_h, main_c, hyp_h, hyp_c = self._parts(h)
        hyper_in = torch.cat([main_h, x], dim=-1)
        hyp_h, hyp_c = _lstm(hyper_in @ params["hyper_ih"].T + hyp_h @ params["hyper_hh"].T + params["hyper_bias"],
                             hyp_c)

        def generate(embed: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
            z = torch.einsum("kem,bm->bke", embed, hyp_h)
            if bias is not None:
                z = z + bias
            return torch.einsum("kne,bke->bkn", scale, z).reshape(h.shape[0], 4 * self.hidden)

        d_h = generate(params["embed_h"], params["scale_h"], params["embed_h_bias"])
        d_x = generate(params["embed_x"], params["scale_x"], params["embed_x_bias"])
        b = generate(params["embed_b"], params["scale_b"], None) + params["bias"]
        pre = d_h * (main_h @ params["weight_hh"].T) + d_x * (x @ params["weight_ih"].T) + b
        main_h, main_c = _lstm(pre, main_c)
        return torch.cat([main_h, main_c, hyp_h, hyp_c], dim=-1)

    def output(self, h: torch.Tensor) -> torch.Tensor:
        return h[..., :self.hidden]


@register_cell("hrhn")
class HRHNCell(Cell):
    def __init__(self, input_size: int, hidden: int, depth: int = HRHN_DEPTH, hyper: int | None = None,
                 transform_bias: float = TRANSFORM_BIAS) -> None:
        super().__init__()
        if depth < 1:
            raise ConfigError(f"the HRHN cell needs a recurrence depth >= 1; got {depth}")
        n, m = hidden, hyper or hyper_size(hidden)
        self.input_size, self.state_size, self.output_size = input_size, n + m, n
        self.hidden, self.hyper, self.depth = n, m, depth
        self.hyper_ih = _uniform(2 * m, input_size, fan=m)
        self.hyper_hh = _uniform(depth, 2 * m, m, fan=m)
        hyper_bias = torch.zeros(depth, 2 * m)
        hyper_bias[:, m:] = transform_bias
        self.hyper_bias = nn.Parameter(hyper_bias)
        self.upscale = nn.Parameter(torch.zeros(depth, n, m))  # U_l: 0, so z = c_l = 1 at the start
        self.upscale_bias = nn.Parameter(torch.ones(depth, n))
        self.weight_ih = _uniform(2 * n, input_size, fan=n)
        self.weight_hh = _uniform(depth, 2 * n, n, fan=n)
        bias = torch.zeros(depth, 2 * n)
        bias[:, n:] = transform_bias
        self.bias = nn.Parameter(bias)

    def step(self, params: Params, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        s, hyp = h[..., :self.hidden], h[..., self.hidden:]
        for layer in range(self.depth):
            hyp_pre = hyp @ params["hyper_hh"][layer].T + params["hyper_bias"][layer]
            if layer == 0:
                hyp_pre = hyp_pre + x @ params["hyper_ih"].T
            hyp = highway_layer(hyp, hyp_pre)
            z = hyp @ params["upscale"][layer].T + params["upscale_bias"][layer]
            zz = torch.cat([z, z], dim=-1)  # the same scaling for the H and the T half
            product = s @ params["weight_hh"][layer].T
            if layer == 0:
                product = product + x @ params["weight_ih"].T
            s = highway_layer(s, zz * product + params["bias"][layer])
        return torch.cat([s, hyp], dim=-1)

    def output(self, h: torch.Tensor) -> torch.Tensor:
        return h[..., :self.hidden]
