"""Influence balancing's linear cell (Tallec & Ollivier 2018, "Unbiased Online Recurrent
Optimization", ICLR; its synthetic task; docs/online.md#influence-balancing).

    s_t = A s_{t-1} + theta * u_t * v,    A = 0.5 I + 0.5 S  (S: the superdiagonal shift),
    v = (+1, ..., +1, -1, ..., -1)  with n_plus leading +1 entries,

u_t the mean of the step's inputs (the task's single input x_t = 1; the mean lets the cell run on
any task, as the cell tests do), and the loss is read on the first unit only, l_t = 0.5 (s_0 - 1)^2
(``output(h) = h[:, :1]``; learners use it with ``model.readout = "none"`` on the ``influence``
task, whose input and target are 1 at every step). A is a fixed buffer and theta, a scalar
initialised to 0.5, is the only parameter.

Why the task exists: unit i feeds unit i-1 (A's superdiagonal), so theta's effect on s_0 through
the last k steps is sum_{j<k} (A^j v)_0. The first ten steps only reach the +theta units, the later
ones the -theta units, which outnumber them, so the steady state is s_0 = 2 theta (2 n_plus - n)
(= -6 theta at n = 23, n_plus = 10): the optimum is theta* = 1 / (2 (2 n_plus - n)) (= -1/6), but
a gradient truncated to k <= 40 steps has the opposite sign (+10 at k = 10; it first turns
negative at k = 41). ``truncated_sensitivity`` gives these numbers in closed form; the tests check
them through ``step`` with autograd.

Sizes other than the paper's 23: n_plus = floor(10 n / 23). The paper gives only n = 23 with 10
plus units; the floor keeps n_plus < n / 2 for every n, so the minus units always outnumber the
plus units and theta* is always negative and finite (a rounding rule would give n_plus = n / 2,
hence no optimum, at n = 2).
"""
from __future__ import annotations

import torch
from torch import nn

from nobptt.cells.base import Cell, Params
from nobptt.cells.registry import register_cell

PAPER_N, PAPER_N_PLUS = 23, 10
THETA_INIT = 0.5  # the UORO paper's initial value (reference implementation: persistent-es)


def plus_units(n: int) -> int:
    """How many of the n units receive +theta: 10 of 23 in the paper, floor(10 n / 23) in general."""
    return (PAPER_N_PLUS * n) // PAPER_N


def optimal_theta(n: int) -> float:
    """theta* where the steady state's s_0 = 2 theta (2 n_plus - n) equals the target 1."""
    return 1.0 / (2.0 * (2 * plus_units(n) - n))


def truncated_sensitivity(n: int, k: int) -> float:
    """d s_0 / d theta through the last k steps only (the state k steps back held fixed):
    sum_{j<k} (A^j v)_0 in float64. It is k for k <= n_plus
    and tends to 2 (2 n_plus - n) as k grows."""
    v = torch.ones(n, dtype=torch.float64)
    v[plus_units(n):] = -1.0
    a = transition(n, torch.float64)
    total, term = 0.0, v
    for _ in range(k):
        total += float(term[0])
        term = a @ term
    return total


def transition(n: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A = 0.5 I + 0.5 S: each unit keeps half of itself and takes half of the next unit."""
    return 0.5 * torch.eye(n, dtype=dtype) + 0.5 * torch.diag(torch.ones(n - 1, dtype=dtype), 1)


@register_cell("influence")
class InfluenceCell(Cell):
    """``Cls(input_size, hidden)``: hidden = n (the paper: 23); the input's mean multiplies theta
    (the influence task has one input, always 1)."""

    def __init__(self, input_size: int, hidden: int) -> None:
        super().__init__()
        self.input_size, self.state_size, self.output_size = input_size, hidden, 1
        self.n_plus = plus_units(hidden)
        signs = torch.ones(hidden)
        signs[self.n_plus:] = -1.0
        # fixed: buffers move with .to()/.double() and are checkpointed, but are not parameters
        self.register_buffer("A", transition(hidden))
        self.register_buffer("signs", signs)
        self.theta = nn.Parameter(torch.tensor(THETA_INIT))

    def step(self, params: Params, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        a, signs = self.A.to(h.dtype), self.signs.to(h.dtype)
        return h @ a.T + params["theta"] * x.mean(dim=1, keepdim=True) * signs

    def output(self, h: torch.Tensor) -> torch.Tensor:
        return h[:, :1]  # the loss is on s_0 only

    def initial_state(self, batch_size: int, device: torch.device | str, dtype: torch.dtype) -> torch.Tensor:
        return torch.ones(batch_size, self.state_size, device=device, dtype=dtype)  # the paper's s = 1
