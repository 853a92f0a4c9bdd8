"""The harness every online gradient estimator shares (docs/online.md#the-harness).

Notation (related work's common notation; docs/online.md#notation): h_t = F(h_{t-1}, x_t; theta),
a per-step loss l_t read out from h_t, the learning signal q_t = dl_t/dh_t, and the exact gradient
sum_t q_t M_t with the influence matrix M_t = dh_t/dtheta. Estimators differ only in what they carry
forward instead of M_t (their "traces") and how they turn q_t into a parameter gradient, so a
subclass implements three methods:

* ``initial_traces(batch_size, device, dtype)``: the persistent memory of a fresh stream;
* ``propagate(traces, params, h, x, h_new)``: the traces after the step h -> h_new;
* ``cell_gradient(traces, q, params, h, x, h_new)``: this step's gradient for the cell's parameters.

Each step the harness advances the cell without keeping a graph, propagates the traces, obtains
q_t by autograd through the readout only (the readout's own gradient is exact and local in time),
and adds both gradients into ``p.grad``. Gradients of successive steps are summed until the update
(``update_every``), so with ``update_every`` equal to a sequence's length the accumulated gradient
is that of sum_t l_t, the quantity the oracle tests compare with BPTT.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nobptt.cells.base import Params
from nobptt.cells.registry import build_cell
from nobptt.learners.base import Learner, State, StepOutput
from nobptt.tasks.base import Batch, bernoulli_scores
from nobptt.validation import FieldError, check_ranges

READOUTS = ("linear", "none")
# [optim] defaults shared by the online learners (nobptt.train.optim.OptimConfig)
ONLINE_OPTIM = {"lr": 1e-3, "classifier_lr": 0.0}


@dataclass
class OnlineConfig:
    # a registered cell (nobptt.cells): rnn | gru | lstm | plstm | rhn | hyperlstm | hrhn | ...; a cell
    # with a recurrence depth takes it after a colon, e.g. "rhn:10" (docs/cells.md)
    cell: str = "rnn"
    hidden: int = 32  # the cell's units (the LSTM's state is 2 x hidden: [h; c])
    # linear: a trained linear readout of cell.output(h); none: cell.output(h) is the prediction
    # itself (a cell whose output already has the task's size, e.g. influence balancing's s_0)
    readout: str = "linear"
    # apply the accumulated gradient every update_every steps (1 = fully online); 0 = when the task
    # says every stream's episode ended (batch.ends_sequence)
    update_every: int = 1
    # torch.compile the cell's step (fused kernels for its element-wise operations, forward and
    # backward): the same values to float rounding, faster where a step is many small operations
    # (docs/cells.md#speed). The first step of each batch shape and mode pays the compilation.
    compile: bool = False

    def __post_init__(self) -> None:
        check_ranges(self, positive="hidden", non_negative="update_every")
        if self.readout not in READOUTS:
            raise FieldError("readout", self.readout, f"must be one of {READOUTS}")


def step_loss(output: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
    """l_t = sum_b w_b l_b / B: cross-entropy against ``target_label``, or half the squared error
    against ``target_value`` (so that its gradient is the error), or the Bernoulli cross-entropy
    summed over outputs against ``target_prob``. Also the logged scalars: "loss", and "nll", "mse"
    (the mean squared error per weighted stream, without the half) or "bce" and "sse" (means per
    weighted stream: per frame, for a video)."""
    weight = batch.weight if batch.weight is not None else torch.ones(output.shape[0], dtype=output.dtype,
                                                                     device=output.device)
    weight = weight.to(output.dtype)
    if batch.target_value is not None:
        per = ((output - batch.target_value.to(output.dtype)) ** 2).sum(-1)
        loss = 0.5 * (per * weight).sum() / output.shape[0]
        scored = float(weight.sum())
        return loss, {"loss": float(loss.detach()), "mse": float((per * weight).sum().detach()) / max(scored, 1e-12)}
    if batch.target_prob is not None:
        bce, sse = bernoulli_scores(output, batch.target_prob)
        loss = (bce * weight).sum() / output.shape[0]
        scored = max(float(weight.sum()), 1e-12)
        return loss, {"loss": float(loss.detach()), "bce": float((bce * weight).sum().detach()) / scored,
                      "sse": float((sse * weight).sum().detach()) / scored}
    per = F.cross_entropy(output, batch.target_label, reduction="none")
    loss = (per * weight).sum() / output.shape[0]
    scored = float(weight.sum())
    return loss, {"loss": float(loss.detach()), "nll": float((per * weight).sum().detach()) / max(scored, 1e-12)}


def unscored_logs(batch: Batch) -> dict[str, float]:
    """What ``step_loss`` logs at a step that scores no stream (every weight 0), without computing
    it: zeros under the target's names. (A non-finite output would have logged NaN; the trainer's
    check of the logits still stops such a run.)"""
    names = ("mse",) if batch.target_value is not None else ("bce", "sse") if batch.target_prob is not None else ("nll",)
    return {"loss": 0.0, **{name: 0.0 for name in names}}


def scores_any(batch: Batch) -> bool:
    """Whether this step scores any stream (no weight: every stream). A step that scores none has
    l_t = 0 and a zero gradient, which the learners skip computing (the frequency task scores only
    an episode's last step)."""
    return batch.weight is None or bool(batch.weight.any())


def cell_metrics(values: dict[str, torch.Tensor], mask: torch.Tensor | None) -> dict[str, float]:
    """The cell's per-stream diagnostics (``Cell.step_metrics``) averaged over the streams whose step
    is input (``Batch.mask``); none at a step where every stream is padding, so that an epoch's mean
    is over real steps only."""
    if not values:
        return {}
    if mask is None:
        return {name: float(v.detach().mean()) for name, v in values.items()}
    if not bool(mask.any()):
        return {}
    return {name: float(v.detach()[mask].mean()) for name, v in values.items()}


class OnlineLearner(Learner):
    """A cell, a readout and a gradient estimator (the subclass) that never unrolls in time."""

    def __init__(self, config: OnlineConfig, input_dim: int, n_classes: int) -> None:
        super().__init__()
        self.config = config
        self.cell = build_cell(config.cell, input_dim, config.hidden)
        if config.readout == "linear":
            self.readout: nn.Module | None = nn.Linear(self.cell.output_size, n_classes)
        else:
            if self.cell.output_size != n_classes:
                raise FieldError("readout", config.readout,
                                 f"needs a cell whose output has the task's {n_classes} outputs; cell "
                                 f"{config.cell!r} has {self.cell.output_size}: use readout = 'linear'")
            self.readout = None

    # -- the pieces a subclass and the oracle tests use ---------------------------------------
    def cell_step(self, params: Params, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``cell.step``, compiled when ``config.compile`` (once, on first use; kept out of the
        state dict)."""
        if not self.config.compile:
            return self.cell.step(params, h, x)
        compiled = self.__dict__.get("_compiled_step")
        if compiled is None:
            compiled = self.__dict__["_compiled_step"] = torch.compile(self.cell.step, dynamic=False)
        return compiled(params, h, x)

    def predict(self, h: torch.Tensor) -> torch.Tensor:
        out = self.cell.output(h)
        return self.readout(out) if self.readout is not None else out

    def cell_params(self) -> Params:
        """The cell's parameters, detached: the values this step uses (no graph is kept)."""
        return {k: v.detach() for k, v in self.cell.params().items()}

    def initial_traces(self, batch_size: int, device: torch.device | str, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def propagate(self, traces: dict[str, torch.Tensor], params: Params, h: torch.Tensor, x: torch.Tensor,
                  h_new: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def cell_gradient(self, traces: dict[str, torch.Tensor], q: torch.Tensor, params: Params, h: torch.Tensor,
                      x: torch.Tensor, h_new: torch.Tensor) -> Params:
        raise NotImplementedError

    # -- the Learner API ------------------------------------------------------------------------
    @property
    def _dtype(self) -> torch.dtype:
        return next(self.cell.parameters()).dtype

    def initial_state(self, batch_size: int, device: torch.device | str) -> State:
        h = self.cell.initial_state(batch_size, device, self._dtype)
        return {"h": h, "traces": self.initial_traces(batch_size, device, self._dtype), "steps": 0}

    def _restart(self, state: State, reset: torch.Tensor | None) -> State:
        """Streams flagged in ``reset`` start afresh: the cell's initial state, zero traces (the
        past has no influence on a new episode)."""
        if reset is None or not bool(reset.any()):
            return state
        # traces are zeroed in place of allocating a fresh set (RTRL's is B x n x p)
        return {**state, "h": self.restarted_h(state["h"], reset),
                "traces": {k: torch.where(reset.view(-1, *([1] * (v.dim() - 1))), 0.0, v)
                           if v.dim() and v.shape[0] == reset.shape[0] else v
                           for k, v in state["traces"].items()}}

    def restarted_h(self, h: torch.Tensor, reset: torch.Tensor | None) -> torch.Tensor:
        """h with the streams flagged in ``reset`` back at the cell's initial state (a constant, so
        no gradient crosses an episode boundary)."""
        if reset is None or not bool(reset.any()):
            return h
        return torch.where(reset.view(-1, 1), self.cell.initial_state(h.shape[0], h.device, h.dtype), h)

    def learn(self, state: State, batch: Batch) -> tuple[State, StepOutput]:
        state = self._restart(state, batch.reset)
        h, x = state["h"], batch.x.to(self._dtype)
        params = self.cell_params()
        with torch.no_grad():
            h_new = self.cell_step(params, h, x)
            traces = self.propagate(state["traces"], params, h, x, h_new)
        if scores_any(batch):
            # the learning signal q_t = dl_t/dh_t, through the readout only; the readout's gradient
            # accumulates in its p.grad on the way
            probe = h_new.detach().requires_grad_(True)
            with torch.enable_grad():
                output = self.predict(probe)
                loss, logged = step_loss(output, batch)
                loss.backward()
            with torch.no_grad():
                grads = self.cell_gradient(traces, probe.grad, params, h, x, h_new)
                for name, p in self.cell.named_parameters():
                    p.grad = grads[name].clone() if p.grad is None else p.grad + grads[name]
        else:  # no stream scored: q_t = 0, so this step's gradient is 0 (the traces still advanced)
            with torch.no_grad():
                output = self.predict(h_new)
                logged = unscored_logs(batch)
                for p in self.parameters():  # a zero p.grad, as adding this step's zeros would leave it
                    if p.grad is None and p.requires_grad:
                        p.grad = torch.zeros_like(p)
        with torch.no_grad():
            logged.update(cell_metrics(self.cell.step_metrics(params, h, x), batch.mask))
        steps = state["steps"] + 1
        every = self.config.update_every
        update = steps % every == 0 if every else bool(batch.ends_sequence)
        return ({"h": h_new, "traces": traces, "steps": steps},
                StepOutput(logits=output.detach(), losses=logged, update=update))

    @torch.no_grad()
    def infer_diagnostics(self, state: State, batch: Batch) -> dict[str, float]:
        """The cell's step metrics (``Cell.step_metrics``), as training logs them."""
        x = batch.x.to(self._dtype)
        return cell_metrics(self.cell.step_metrics(self.cell_params(), state["h"], x), batch.mask)

    @torch.no_grad()
    def infer(self, state: State, batch: Batch) -> tuple[State, torch.Tensor]:
        state = self._restart(state, batch.reset)
        h_new = self.cell_step(self.cell_params(), state["h"], batch.x.to(self._dtype))
        return {**state, "h": h_new}, self.predict(h_new)

    def param_groups(self) -> list[dict[str, Any]]:
        groups = [{"params": list(self.cell.parameters()), "name": "cell"}]
        if self.readout is not None:
            groups.append({"params": list(self.readout.parameters()), "name": "classifier"})
        return groups

    def clip_parameters(self):
        return list(self.parameters())

    def trace_bytes(self, state: State) -> int:
        """Bytes of the persistent memory this learner carries per batch of streams (the traces)."""
        return sum(v.numel() * v.element_size() for v in state["traces"].values())

    def trace_formula(self) -> int | None:
        """Trace entries per stream that the method's own cost analysis says it carries, with
        n = ``cell.state_size`` and p = the cell's parameter count: RTRL n*p, UORO n + p, SnAp-n the
        nonzeros of its masks. ``nobptt bench memory`` reports it (times B and the element size) beside
        the measured traces, and tests/test_bench_online.py asserts the two agree for every
        registered subclass. None: not declared (the test then fails and names the learner)."""
        return None
