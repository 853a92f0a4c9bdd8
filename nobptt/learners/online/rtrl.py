"""Real-time recurrent learning (Williams & Zipser 1989): the exact online gradient.

The influence matrix M_t = dh_t/dtheta is carried forward, M_t = J_t M_{t-1} + Mbar_t with
M_0 = 0, and this step's gradient is q_t M_t (docs/online.md#rtrl). With the parameters held fixed
over a sequence the accumulated gradient equals BPTT's (tests/test_online_rtrl.py, to 1e-10 in
float64). Cost per stream: n x p floats of memory (O(n^3) for a vanilla RNN, independent of T) and
n^2 p multiply-adds per step.
"""
from __future__ import annotations

import torch

from nobptt.cells.base import Params
from nobptt.cells.jacobians import n_params, step_jacobians, unflatten
from nobptt.learners.online.base import ONLINE_OPTIM, OnlineConfig, OnlineLearner
from nobptt.learners.registry import register_learner


@register_learner("rtrl", config=OnlineConfig, optim=ONLINE_OPTIM,
                  description="real-time recurrent learning (Williams & Zipser 1989): exact online gradient, n*p state")
class RTRL(OnlineLearner):
    def initial_traces(self, batch_size: int, device: torch.device | str, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        p = n_params(self.cell.params())
        return {"influence": torch.zeros(batch_size, self.cell.state_size, p, device=device, dtype=dtype)}

    def propagate(self, traces, params: Params, h, x, h_new):
        jac_h, immediate = step_jacobians(self.cell, params, h, x)
        return {"influence": torch.baddbmm(immediate, jac_h, traces["influence"])}

    def trace_formula(self) -> int:
        return self.cell.state_size * n_params(self.cell.params())  # the influence matrix, n x p

    def cell_gradient(self, traces, q, params: Params, h, x, h_new) -> Params:
        return unflatten(torch.einsum("bn,bnp->p", q, traces["influence"]), params)
