"""Unbiased Online Recurrent Optimization (Tallec & Ollivier 2018, ICLR, Algorithm 1).

UORO keeps a rank-one, unbiased estimate of the influence matrix M_t = dh_t/dtheta (n x p),
M_t ~ s_t theta_t^T with E[s_t theta_t^T] = M_t, so its memory is n + p floats per stream instead
of RTRL's n x p (docs/online.md#uoro). Each step draws nu with iid +-1 entries and sets

    s_t     = rho0 * J_t s_{t-1} + rho1 * nu                (J_t s by one torch.func.jvp)
    theta_t = theta_{t-1} / rho0 + (nu^T Mbar_t) / rho1     (nu^T Mbar_t by one torch.func.vjp)
    rho0 = sqrt(|theta_{t-1}| / (|J_t s_{t-1}| + eps)) + eps
    rho1 = sqrt(|nu^T Mbar_t| / (|nu| + eps)) + eps

and this step's gradient is (q_t . s_t) theta_t. The estimate is unbiased for ANY positive rho0,
rho1 that do not change sign with nu (the cross terms are odd in nu; rho1 depends on nu only
through |nu^T Mbar_t|, which is even): the rescaling only lowers the variance (the paper's
variance-minimising choice, §3, with its eps stabiliser). tests/test_online_uoro.py checks the
unbiasedness against RTRL over 10^4 independent noise streams.

Deliberate differences from the paper: J_t s is computed exactly by forward-mode autodiff
(torch.func.jvp), where the paper (and the persistent-es reference script) use a finite difference
with eps = 1e-7; the eps of the rescaling is kept (``model.epsilon``, default 1e-7).

The noise comes from a ``torch.Generator`` whose state travels in the learner state
(``state["noise"]``, a CPU byte tensor), so a checkpoint resumes with exactly the same draws; it is
seeded at construction from torch's global generator, hence from the run's seed. The noise is drawn
on the CPU whatever the device, so a run's draws do not depend on the device.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.func import jvp, vjp, vmap

from nobptt.cells.base import Params
from nobptt.cells.jacobians import flatten, n_params, one_stream, unflatten
from nobptt.learners.base import State, StepOutput
from nobptt.learners.online.base import ONLINE_OPTIM, OnlineConfig, OnlineLearner
from nobptt.learners.registry import register_learner
from nobptt.tasks.base import Batch
from nobptt.validation import check_ranges


@dataclass
class UOROConfig(OnlineConfig):
    # the stabiliser of the rescaling factors rho0, rho1 (Tallec & Ollivier 2018, Algorithm 1;
    # 1e-7 in the persistent-es reference script): keeps them finite when a trace is zero
    epsilon: float = 1e-7

    def __post_init__(self) -> None:
        super().__post_init__()
        check_ranges(self, positive="epsilon")


@register_learner("uoro", config=UOROConfig, optim=ONLINE_OPTIM,
                  description="unbiased online recurrent optimization (Tallec & Ollivier 2018): "
                              "rank-one unbiased RTRL, n+p state")
class UORO(OnlineLearner):
    config: UOROConfig

    def __init__(self, config: UOROConfig, input_dim: int, n_classes: int) -> None:
        super().__init__(config, input_dim, n_classes)
        # drawn from the global generator, like the parameters: a run's seed fixes its noise
        self.noise_seed = int(torch.randint(0, 2 ** 62, (1,)).item())
        self._noise = torch.Generator(device="cpu")

    # -- traces --------------------------------------------------------------------------------
    def initial_traces(self, batch_size: int, device: torch.device | str, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        p = n_params(self.cell.params())
        return {"s": torch.zeros(batch_size, self.cell.state_size, device=device, dtype=dtype),
                "theta": torch.zeros(batch_size, p, device=device, dtype=dtype)}

    def trace_formula(self) -> int:
        """Trace entries per stream: n + p (s and theta), the paper's O(n + p) memory."""
        return self.cell.state_size + n_params(self.cell.params())

    def draw_signs(self, batch_size: int, device: torch.device | str, dtype: torch.dtype) -> torch.Tensor:
        """nu: iid +-1 entries, (B, n), from the generator whose state is in the learner state."""
        bits = torch.randint(0, 2, (batch_size, self.cell.state_size), generator=self._noise)
        return (2 * bits - 1).to(device=device, dtype=dtype)

    def tangents(self, params: Params, h: torch.Tensor, x: torch.Tensor, s: torch.Tensor,
                 nu: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per stream: J_t s (B, n) by a jvp along s, and nu^T Mbar_t (B, p) by a vjp with
        cotangent nu. vmap makes both per stream (a plain vjp would sum nu^T Mbar over the batch)."""
        step = one_stream(self.cell)

        def one(h1: torch.Tensor, x1: torch.Tensor, s1: torch.Tensor, nu1: torch.Tensor):
            _, js = jvp(lambda hh: step(params, hh, x1), (h1,), (s1,))
            _, pull = vjp(lambda pp: step(pp, h1, x1), params)
            return js, flatten(pull(nu1)[0])

        return vmap(one)(h, x, s, nu)

    def rescaling(self, js: torch.Tensor, theta: torch.Tensor, nu: torch.Tensor, nu_mbar: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """rho0, rho1 per stream, (B, 1) each: the variance-minimising factors of Algorithm 1 with
        their eps stabiliser (finite when a trace is zero, as at the start of a stream)."""
        eps = self.config.epsilon

        def norm(v: torch.Tensor) -> torch.Tensor:
            return v.norm(dim=-1, keepdim=True)

        return (torch.sqrt(norm(theta) / (norm(js) + eps)) + eps,
                torch.sqrt(norm(nu_mbar) / (norm(nu) + eps)) + eps)

    def combine(self, js: torch.Tensor, theta: torch.Tensor, nu: torch.Tensor, nu_mbar: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """The rescaled rank-one update (Algorithm 1): (s_t, theta_t) from J_t s_{t-1},
        theta_{t-1}, nu and nu^T Mbar_t, all per stream."""
        rho0, rho1 = self.rescaling(js, theta, nu, nu_mbar)
        return rho0 * js + rho1 * nu, theta / rho0 + nu_mbar / rho1

    def propagate(self, traces, params: Params, h, x, h_new):
        nu = self.draw_signs(h.shape[0], h.device, h.dtype)
        js, nu_mbar = self.tangents(params, h, x, traces["s"], nu)
        s, theta = self.combine(js, traces["theta"], nu, nu_mbar)
        return {"s": s, "theta": theta}

    def stream_gradients(self, traces: dict[str, torch.Tensor], q: torch.Tensor) -> torch.Tensor:
        """This step's estimate per stream, (q_t . s_t) theta_t: (B, p)."""
        return (q * traces["s"]).sum(-1, keepdim=True) * traces["theta"]

    def cell_gradient(self, traces, q, params: Params, h, x, h_new) -> Params:
        return unflatten(self.stream_gradients(traces, q).sum(0), params)

    # -- the noise generator's state rides in the learner state ------------------------------------
    def initial_state(self, batch_size: int, device: torch.device | str) -> State:
        state = super().initial_state(batch_size, device)
        fresh = torch.Generator(device="cpu")
        fresh.manual_seed(self.noise_seed)
        state["noise"] = fresh.get_state()
        return state

    def learn(self, state: State, batch: Batch) -> tuple[State, StepOutput]:
        # a checkpoint loads the state onto the run's device; the generator lives on the CPU
        self._noise.set_state(state["noise"].cpu())
        new_state, out = super().learn(state, batch)
        new_state["noise"] = self._noise.get_state()
        return new_state, out
