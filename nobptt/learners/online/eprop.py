"""e-prop: eligibility propagation (Bellec et al. 2020, Nature Communications 11:3625).

The exact gradient factorises (Bellec et al. eq. 1-3) as dL/dtheta = sum_t L_t e_t: a learning
signal L_t per unit times an eligibility trace e_t per (unit, parameter entering that unit), where
the trace follows only the unit's *internal* dynamics,

    e_t = D_t e_{t-1} + Mbar_t,        D_t = the per-unit block of dF/dh_{t-1} along internal paths,

and every path from one unit to another (the recurrent weights, including a unit's weight onto
itself) is left to the learning signal. e-prop replaces the TOTAL learning signal (which needs the
future) by the local one, L_t = q_t = dl_t/dh_t through the readout (symmetric feedback: the
readout's own transpose) or through a fixed random matrix in its place (random feedback). Memory:
the trace, (state components per unit) x p floats per stream (docs/online.md#e-prop).

What "internal" means here (the reference notes' caveat, online_learners §2.2 item 5: SnAp-1 keeps
the whole diagonal of J_t, self-recurrent weights included; e-prop keeps only the neuron's own
dynamics such as a leak). A cell whose recurrent input is ``h[..., :W.shape[1]] @ W.T + bias``
names (W, bias) in :data:`RECURRENT_INPUT` (or as a ``recurrent_input`` attribute); D_t is then the
Jacobian of the step with that recurrent input held at its value (W's contribution moved into the
bias), restricted to each unit's own state components:

* ``rnn`` (h' = tanh(W h + U x + b)): the state enters only through W, so D_t = 0 and the trace
  is the immediate influence (no memory): Bellec's formalism for a neuron without internal state.
* ``gru``: D_t = diag(z_t), the update gate's leaky carry z * h (the GRU unit's own leak).
* ``lstm`` (state [h; c], a unit's components (h_j, c_j)): the c -> c path f_t, and c_{t-1} -> h_t
  through c_t, o_t tanh'(c_t) f_t: the per-gate eligibility vectors of Bellec et al.'s LSTM
  (Supplementary Note 4), h_{t-1} entering only through weight_hh.
* a cell that names no recurrent input: D_t is the per-unit block of the full J_t (every path
  from a unit's state to itself counts as internal, as in SnAp-1).

Units: a state of n = k x hidden components is hidden units of k components each, component a of
unit u at index a * hidden + u (the cells' layout, e.g. the LSTM's [h; c]); otherwise every state
component is a unit. Which parameters enter which unit is read off the sparsity of Mbar at a random
probe, so the trace stores only those pairs (p pairs for rnn, gru, lstm; one per unit a shared
parameter enters).

Deliberately unlike the paper: the readout here is instantaneous, so the trace is not low-pass
filtered with a readout time constant (Bellec's e-bar with kappa = 0); there is no firing-rate
regulariser (no spiking cells).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch.func import jacrev, jvp, vjp, vmap

from nobptt.cells.base import Params
from nobptt.cells.jacobians import flatten, n_params, one_stream, parameter_jacobian, unflatten
from nobptt.errors import ConfigError
from nobptt.learners.online.base import ONLINE_OPTIM, OnlineConfig, OnlineLearner
from nobptt.learners.registry import register_learner
from nobptt.validation import FieldError

FEEDBACKS = ("symmetric", "random")
# cells whose step computes its recurrent input as h[..., :W.shape[1]] @ params[W].T + params[bias]:
# (W, bias) by cell name. A new cell may instead carry a ``recurrent_input = (W, bias)`` attribute.
RECURRENT_INPUT: dict[str, tuple[str, str]] = {
    "rnn": ("W", "b"),
    "gru": ("weight_hh", "bias_hh"),
    "lstm": ("weight_hh", "bias_hh"),
}


@dataclass
class EPropConfig(OnlineConfig):
    # symmetric: the learning signal through the readout's weights (q_t = dl_t/dh_t);
    # random: through a fixed random matrix of the readout's shape ("random e-prop", Bellec et al.)
    feedback: str = "symmetric"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.feedback not in FEEDBACKS:
            raise FieldError("feedback", self.feedback, f"must be one of {FEEDBACKS}")
        if self.feedback == "random" and self.readout != "linear":
            raise FieldError("feedback", self.feedback, "needs readout = 'linear' (random feedback replaces "
                                                        "the readout's weights; without a readout use 'symmetric')")


class _RandomFeedbackLinear(torch.autograd.Function):
    """y = x W^T + b whose backward sends dl/dy to x through a fixed matrix B instead of W (the
    weights' own gradients stay exact): random feedback, q_t = (dl/dy) B."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, feedback: torch.Tensor):
        ctx.save_for_backward(x, feedback)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor):
        x, feedback = ctx.saved_tensors
        return grad @ feedback, grad.T @ x, grad.sum(0), None


@register_learner("eprop", config=EPropConfig, optim=ONLINE_OPTIM,
                  description="e-prop (Bellec et al. 2020): eligibility traces of the units' internal "
                              "dynamics, learning signal from the readout (symmetric or random feedback)")
class EProp(OnlineLearner):
    config: EPropConfig

    def __init__(self, config: EPropConfig, input_dim: int, n_classes: int) -> None:
        super().__init__(config, input_dim, n_classes)
        self.recurrent_input = self._recurrent_input()
        n = self.cell.state_size
        self.units = config.hidden if n % config.hidden == 0 else n
        self.components = n // self.units
        units, k = self.units, self.components
        comp = torch.arange(k).view(1, k) * units + torch.arange(units).view(units, 1)  # (units, k)
        # D's per-unit blocks: D[:, rows, cols] is (B, units, k, k)
        self.register_buffer("block_rows", comp.unsqueeze(2).expand(units, k, k).clone(), persistent=False)
        self.register_buffer("block_cols", comp.unsqueeze(1).expand(units, k, k).clone(), persistent=False)
        pair_unit, pair_col = self._entering_pairs()
        self.register_buffer("pair_unit", pair_unit, persistent=False)
        self.register_buffer("pair_col", pair_col, persistent=False)
        # (k, m): the state component a of each pair's unit
        self.register_buffer("pair_comp", comp[pair_unit].T.contiguous(), persistent=False)
        # (k, n): component a of every unit, the tangents / cotangents of the fast paths below
        self.register_buffer("component_of", torch.eye(k).repeat_interleave(units, dim=1), persistent=False)
        self.fast = True  # False: always the general (n reverse passes per step) computation
        self._analyse_structure()
        if config.feedback == "random":
            # the same distribution as the readout weights it stands in for (nn.Linear's), so both
            # feedbacks start at the same scale; fixed (a buffer: checkpointed, never trained)
            bound = 1.0 / math.sqrt(self.cell.output_size)
            self.register_buffer("feedback_matrix",
                                 torch.empty(n_classes, self.cell.output_size).uniform_(-bound, bound))

    # -- the cell's structure --------------------------------------------------------------------
    def _recurrent_input(self) -> tuple[str, str] | None:
        declared = getattr(self.cell, "recurrent_input", RECURRENT_INPUT.get(self.config.cell))
        if declared is None:
            return None
        weight, bias = declared
        params = self.cell.params()
        if weight not in params or bias not in params or params[weight].dim() != 2 \
                or params[bias].shape != params[weight].shape[:1] or params[weight].shape[1] > self.cell.state_size:
            raise ConfigError(f"model.cell={self.config.cell!r}: e-prop's recurrent input ({weight!r}, {bias!r}) "
                              f"is not a (out, in) weight and (out,) bias of this cell; fix "
                              f"nobptt/learners/online/eprop.py RECURRENT_INPUT or the cell's recurrent_input")
        return weight, bias

    def _probe(self) -> tuple[Params, torch.Tensor, torch.Tensor]:
        """Random parameters, states and inputs (float64) at which structural zeros show. A weight
        matrix is drawn with std 1/sqrt(fan-in) so that pre-activations stay O(1) however wide the
        input: with unit-variance weights and 784 inputs a tanh saturates to a derivative of exactly
        0 in float64, and every parameter of such a unit would be taken for structurally absent."""
        g = torch.Generator().manual_seed(0)
        params = {k: torch.randn(v.shape, generator=g, dtype=torch.float64) / (v.shape[-1] ** 0.5 if v.dim() > 1 else 1.0)
                  for k, v in self.cell.params().items()}
        h = torch.randn(2, self.cell.state_size, generator=g, dtype=torch.float64)
        x = torch.randn(2, self.cell.input_size, generator=g, dtype=torch.float64)
        return self.cell.probe_point(params, h, x)

    def _entering_pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(unit, flat parameter index) for every parameter entry that enters that unit directly
        (a non-zero of Mbar in one of the unit's components), and a check that moving the declared
        recurrent input into the bias leaves the step unchanged."""
        params, h, x = self._probe()
        with torch.no_grad():
            if self.recurrent_input is not None:
                moved = self.cell.step(self._frozen_params(params, h), h, x)
                if not torch.allclose(moved, self.cell.step(params, h, x), atol=1e-10):
                    raise ConfigError(f"model.cell={self.config.cell!r} does not compute its recurrent input "
                                      f"as h @ {self.recurrent_input[0]}.T + {self.recurrent_input[1]}; fix "
                                      f"nobptt/learners/online/eprop.py RECURRENT_INPUT or the cell's recurrent_input")
        support = parameter_jacobian(self.cell, params, h, x).ne(0).any(0)  # (n, p)
        per_unit = support.view(self.components, self.units, -1).any(0)  # (units, p)
        pair_unit, pair_col = per_unit.nonzero(as_tuple=True)
        return pair_unit, pair_col

    def _analyse_structure(self) -> None:
        """Which shortcuts the cell's structure allows (read at a random probe, like the pairs):
        no internal dynamics at all (rnn: D_t = 0); internal paths that never leave a unit, so
        k forward passes give D's blocks; each parameter entering one unit, so k reverse passes give
        the immediate influence of every pair. Otherwise each step takes n reverse passes."""
        params, h, x = self._probe()
        full = self._full_internal_jacobian(params, h, x)
        blocks = self._mask_blocks(full)
        self.internal_none = not bool(full.ne(0).any())
        self.internal_in_units = torch.equal(full, blocks)
        self.one_unit_per_parameter = self.pair_col.numel() == n_params(params) and \
            torch.equal(self.pair_col.sort().values, torch.arange(n_params(params)))

    def _frozen_params(self, params: Params, h: torch.Tensor) -> Params:
        """The parameters with the recurrent input at state h moved into the bias (W = 0), per
        stream when h is (B, n): the step's value is unchanged, but h now reaches it only along
        the internal paths."""
        weight, bias = self.recurrent_input  # type: ignore[misc]
        w = params[weight]
        return {**params, weight: torch.zeros_like(w), bias: params[bias] + h[..., :w.shape[1]] @ w.T}

    def _internal_step(self, params: Params, h1: torch.Tensor, x1: torch.Tensor):
        """One stream's step as a function of the state along the internal paths only."""
        step = one_stream(self.cell)
        fixed = self._frozen_params(params, h1) if self.recurrent_input is not None else params
        return lambda hh: step(fixed, hh, x1)

    def _full_internal_jacobian(self, params: Params, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return vmap(lambda h1, x1: jacrev(self._internal_step(params, h1, x1))(h1))(h, x)

    def _mask_blocks(self, full: torch.Tensor) -> torch.Tensor:
        blocks = torch.zeros_like(full)
        rows, cols = self.block_rows, self.block_cols
        blocks[:, rows, cols] = full[:, rows, cols]
        return blocks

    def internal_jacobian(self, params: Params, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """D_t per stream, (B, n, n): dF/dh_{t-1} along the internal paths, zero outside each unit's
        block of components."""
        return self._mask_blocks(self._full_internal_jacobian(params, h, x))

    def internal_blocks(self, params: Params, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """D_t's per-unit blocks, (B, units, k, k): [b, u, a, a'] = d(component a of unit u) /
        d(its component a' at t-1)."""
        k = self.components
        if self.fast and self.internal_none:
            return h.new_zeros(h.shape[0], self.units, k, k)
        if self.fast and self.internal_in_units:
            # column a' of every block at once: one jvp along "component a' of every unit"
            def one(h1: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
                f = self._internal_step(params, h1, x1)
                return torch.stack([jvp(f, (h1,), (t.to(h1.dtype),))[1] for t in self.component_of])  # (a', n)
            columns = vmap(one)(h, x).view(h.shape[0], k, k, self.units)  # [b, a', a, u]
            return columns.permute(0, 3, 2, 1)
        return self.internal_jacobian(params, h, x)[:, self.block_rows, self.block_cols]

    def immediate(self, params: Params, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Mbar_t at the stored pairs, (B, k, m): d(component a of the pair's unit)/d(its parameter)."""
        if self.fast and self.one_unit_per_parameter:
            # a parameter reaches one unit only, so "component a of every unit" as the cotangent
            # picks out that unit's row: k vjps instead of n
            step = one_stream(self.cell)

            def one(h1: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
                _, pull = vjp(lambda pp: step(pp, h1, x1), params)
                return torch.stack([flatten(pull(t.to(h1.dtype))[0]) for t in self.component_of])  # (k, p)

            return vmap(one)(h, x)[:, :, self.pair_col]
        return parameter_jacobian(self.cell, params, h, x)[:, self.pair_comp, self.pair_col]

    # -- traces ----------------------------------------------------------------------------------
    def initial_traces(self, batch_size: int, device: torch.device | str, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        return {"eligibility": torch.zeros(batch_size, self.components, self.pair_col.numel(),
                                           device=device, dtype=dtype)}

    def trace_formula(self) -> int:
        """Trace entries per stream: k x p (k state components per unit) when every parameter enters
        one unit (rnn, gru, lstm); otherwise k x (the (unit, parameter) pairs)."""
        if self.one_unit_per_parameter:
            return self.components * n_params(self.cell.params())
        return self.components * self.pair_col.numel()

    def propagate(self, traces, params: Params, h, x, h_new):
        immediate = self.immediate(params, h, x)
        if self.fast and self.internal_none:  # no internal dynamics: the trace is this step's
            return {"eligibility": immediate}
        d_pairs = self.internal_blocks(params, h, x)[:, self.pair_unit]  # (B, m, k, k)
        carried = torch.einsum("bmaz,bzm->bam", d_pairs, traces["eligibility"])
        return {"eligibility": carried + immediate}

    def cell_gradient(self, traces, q, params: Params, h, x, h_new) -> Params:
        signal = q[:, self.pair_comp]  # (B, k, m): the learning signal of each pair's unit
        per_pair = (signal * traces["eligibility"]).sum((0, 1))
        flat = torch.zeros(n_params(params), dtype=q.dtype, device=q.device).index_add_(0, self.pair_col, per_pair)
        return unflatten(flat, params)

    # -- the learning signal ---------------------------------------------------------------------
    def predict(self, h: torch.Tensor) -> torch.Tensor:
        if self.config.feedback != "random" or self.readout is None:
            return super().predict(h)
        return _RandomFeedbackLinear.apply(self.cell.output(h), self.readout.weight, self.readout.bias,
                                           self.feedback_matrix.to(h.dtype))
