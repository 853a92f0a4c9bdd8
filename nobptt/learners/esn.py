"""Echo state network (Jaeger 2001; leaky form of Jaeger, Lukosevicius, Popovici & Siewert 2007):
a fixed random reservoir and a trained linear readout. No gradient crosses a time step, or even
enters the recurrence: the zero-credit-assignment baseline of issue 39 (docs/online.md#echo-state-networks).

Reservoir (buffers, never trained), per stream::

    h' = (1 - leak) h + leak * tanh(W h + W_in x + b)

W (hidden x hidden) has a fraction ``connectivity`` of N(0, 1) entries, rescaled so that its
spectral radius is exactly ``spectral_radius``; W_in has a fraction ``input_connectivity`` of
+-input_scaling entries; b is +-bias_scaling. They are drawn from torch's global RNG when the
learner is built (the trainer seeds it first), so a run's reservoir is fixed by its seed.

Readout on the features f = [1; h'] (after a per-stream washout of ``washout`` steps from each
stream's start or reset; the first ``washout`` states never reach the readout):

* ``readout = "ridge"``: the streamed statistics XtX = sum w f f^T and YtX = sum w y f^T (buffers,
  so a checkpoint holds them and a resume is exact) give W_out = YtX (XtX + ridge * D)^-1 in
  closed form, D = diag(0, 1, ..., 1): the constant feature (the intercept) is not penalised,
  which is what centring the data does in reservoirpy's Ridge. Classification targets are
  regressed as one-hot vectors; their regression outputs sum to 1 (the unpenalised intercept fits
  the constant exactly), so the learner returns log(max(p, prob_floor)) as logits: argmax is that
  of p, and the cross-entropy is that of the renormalised clipped p. Bernoulli targets
  (``Batch.target_prob``, e.g. a video's next frame) are regressed directly as probabilities, the
  closed form staying a least-squares fit; the learner returns logit(clamp(p, prob_floor,
  1 - prob_floor)) as logits, so a sigmoid recovers the clipped p and the BCE metric stays finite.
  This departs from fitting the logits (the ridge readout cannot minimise a BCE in closed form);
  docs/bouncing.md#the-esn-readout. Nothing is left for the optimizer: ``learn`` returns
  ``update=False`` and ``param_groups()`` is empty.
* ``readout = "online"``: a linear readout (zeros at the start) trained by the run's optimizer on
  the gradient of each step's loss (cross-entropy, 0.5 * squared error for regression targets, or
  the Bernoulli cross-entropy summed over outputs for ``target_prob``), written into ``p.grad``:
  one step deep, there is no recurrence to differentiate.

Prequential: the logits of a step are computed before the statistics absorb it (and, in the
online readout, before the optimizer applies its gradient).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from nobptt.errors import ConfigError, DataError
from nobptt.learners.base import Learner, State, StepOutput
from nobptt.learners.registry import register_learner
from nobptt.tasks.base import Batch, bernoulli_scores
from nobptt.validation import check_ranges

READOUTS = ("ridge", "online")


@dataclass
class ESNConfig:
    hidden: int = 100  # reservoir units
    spectral_radius: float = 0.9  # max |eigenvalue| of W after rescaling (exact, in float64)
    leak: float = 1.0  # leak rate a in (0, 1]: h' = (1 - a) h + a tanh(...); 1 = no leak
    input_scaling: float = 1.0  # W_in's nonzero entries are +-input_scaling
    connectivity: float = 0.1  # fraction of W's entries that are nonzero, in (0, 1]
    input_connectivity: float = 0.1  # fraction of W_in's entries that are nonzero, in (0, 1]
    bias_scaling: float = 0.0  # b's entries are +-bias_scaling (0: no bias, reservoirpy's default)
    washout: int = 0  # per stream: states after each start or reset that never reach the readout
    readout: str = "ridge"  # ridge (closed form from streamed statistics) | online (the optimizer)
    ridge: float = 1e-6  # ridge regularisation of W_out (the intercept is not penalised)
    # ridge readout, training: re-solve at most every solve_every steps (1 = before every
    # prediction: exactly prequential; larger saves an O(hidden^3) solve per step on big reservoirs);
    # inference and on_epoch_end always use the solution of all the statistics gathered
    solve_every: int = 1
    # ridge readout: classification logits = log(max(p, prob_floor)); Bernoulli targets' logits =
    # logit(clamp(p, prob_floor, 1 - prob_floor))
    prob_floor: float = 1e-3
    # fields `nobptt eval --set model.X=...` may change on a trained checkpoint (docs/runs.md#zero-shot-
    # evaluation-with-overrides): prob_floor only turns the readout's outputs into logits; the
    # statistics and W_out a checkpoint holds never depend on it
    EVAL_FIELDS: ClassVar[tuple[str, ...]] = ("prob_floor",)

    def __post_init__(self) -> None:
        check_ranges(self, positive="hidden spectral_radius leak connectivity input_connectivity "
                     "solve_every prob_floor", non_negative="input_scaling bias_scaling washout ridge")
        check_ranges(self, unit="leak connectivity input_connectivity", open_unit="prob_floor")
        if self.readout not in READOUTS:
            raise ConfigError(f"model.readout={self.readout!r} must be one of {READOUTS}")


def step_flops(config: ESNConfig, batch: int, input_dim: int, outputs: int) -> int:
    """Matrix-product FLOPs of one training step (2 per multiply-add; docs/bench.md#flops-of-an-esn-and-a-p-tncn-step).
    The reservoir is stored dense (its sparsity is in the values), so W h and W_in x cost
    2 B N^2 + 2 B D N. Ridge readout: the prequential output [1; h] W_out^T, 2 B (N + 1) C, and the
    streamed statistics X^T X and Y^T X, 2 B (N + 1)^2 + 2 B C (N + 1); the solve (a Cholesky
    factorisation, not a matrix product) is not counted. Online readout: its output and the weight
    gradient, 4 B N C (no gradient flows into the reservoir)."""
    B, D, N, C = batch, input_dim, config.hidden, outputs
    reservoir = 2 * B * N * N + 2 * B * D * N
    if config.readout == "online":
        return reservoir + 4 * B * N * C
    return reservoir + 2 * B * (N + 1) * C + 2 * B * (N + 1) ** 2 + 2 * B * C * (N + 1)


def sparse_matrix(rows: int, cols: int, fraction: float, values: torch.Tensor) -> torch.Tensor:
    """A (rows, cols) float64 matrix with round(fraction * rows * cols) nonzeros (at least one) at
    positions drawn uniformly without replacement; ``values`` is flattened and its first entries
    are used (drawn by the caller from the global RNG, before the positions)."""
    count = max(1, round(fraction * rows * cols))
    out = torch.zeros(rows * cols, dtype=torch.float64)
    out[torch.randperm(rows * cols)[:count]] = values.flatten()[:count].to(torch.float64)
    return out.view(rows, cols)


def spectral_radius(matrix: torch.Tensor) -> float:
    """max |eigenvalue| of a square matrix, from its full eigendecomposition in float64 (exact up to
    rounding, unlike the power iteration or ARPACK, which may not converge on a sparse W)."""
    return float(torch.linalg.eigvals(matrix.to(torch.float64)).abs().max())


@register_learner("esn", config=ESNConfig, optim={"lr": 1e-3},
                  description="echo state network: fixed random reservoir, ridge (closed form) or online linear readout")
class ESNLearner(Learner):
    def __init__(self, config: ESNConfig, input_dim: int, n_classes: int) -> None:
        super().__init__()
        c = self.config = config
        n = c.hidden
        dtype = torch.get_default_dtype()
        w = sparse_matrix(n, n, c.connectivity, torch.randn(n * n, dtype=torch.float64))
        radius = spectral_radius(w)
        if radius == 0.0:  # e.g. a W with a single off-diagonal entry: nilpotent, cannot be rescaled
            raise ConfigError(f"model.connectivity={c.connectivity} with model.hidden={n} gives a reservoir "
                              f"matrix whose eigenvalues are all 0, which cannot be rescaled to "
                              f"spectral_radius={c.spectral_radius}; raise connectivity or hidden")
        signs = torch.randint(0, 2, (n * input_dim,), dtype=torch.float64) * 2 - 1
        w_in = sparse_matrix(n, input_dim, c.input_connectivity, signs * c.input_scaling)
        bias = (torch.randint(0, 2, (n,), dtype=torch.float64) * 2 - 1) * c.bias_scaling
        self.register_buffer("W", (w * (c.spectral_radius / radius)).to(dtype))
        self.register_buffer("W_in", w_in.to(dtype))
        self.register_buffer("b", bias.to(dtype))
        self.n_out, features = n_classes, n + 1
        if c.readout == "ridge":
            # float64 whatever the model's dtype: sums over many steps lose digits in float32
            self.register_buffer("xx", torch.zeros(features, features, dtype=torch.float64))
            self.register_buffer("yx", torch.zeros(n_classes, features, dtype=torch.float64))
            self.register_buffer("W_out", torch.zeros(n_classes, features, dtype=torch.float64))
            self.register_buffer("stale", torch.zeros((), dtype=torch.bool))  # statistics changed since the solve
            self.register_buffer("steps", torch.zeros((), dtype=torch.long))
            self.linear = None
        else:
            self.linear = nn.Linear(n, n_classes, dtype=dtype)
            nn.init.zeros_(self.linear.weight)
            nn.init.zeros_(self.linear.bias)

    # -- the reservoir -----------------------------------------------------------------------
    def initial_state(self, batch_size: int, device: torch.device | str) -> State:
        return {"h": torch.zeros(batch_size, self.config.hidden, device=device, dtype=self.W.dtype),
                "age": torch.zeros(batch_size, dtype=torch.long, device=device)}

    def reservoir_step(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """h' = (1 - leak) h + leak tanh(W h + W_in x + b), for (B, hidden) h and (B, input_dim) x."""
        a = self.config.leak
        drive = torch.tanh(h @ self.W.T + x.to(self.W.dtype) @ self.W_in.T + self.b)
        return drive if a == 1.0 else (1 - a) * h + a * drive

    def _advance(self, state: State, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The streams' next states and ages (steps since their start or reset, this one counted)."""
        h, age = state["h"], state["age"]
        if batch.reset is not None and bool(batch.reset.any()):
            h = torch.where(batch.reset.view(-1, 1), torch.zeros_like(h), h)
            age = torch.where(batch.reset, torch.zeros_like(age), age)
        return self.reservoir_step(h, batch.x), age + 1

    # -- the readout -------------------------------------------------------------------------
    def features(self, h: torch.Tensor) -> torch.Tensor:
        """f = [1; h], (B, hidden + 1)."""
        return torch.cat([torch.ones_like(h[:, :1]), h], dim=1)

    def solve(self) -> None:
        """W_out from the statistics: (XtX + ridge D) W_out^T = YtX^T, D = diag(0, 1, ..., 1)."""
        penalty = torch.full((self.xx.shape[0],), self.config.ridge, dtype=torch.float64, device=self.xx.device)
        penalty[0] = 0.0  # the intercept is not penalised (as centring does, reservoirpy's Ridge)
        if float(self.xx[0, 0]) > 0:  # xx[0, 0] = the total weight seen; none: W_out stays 0
            a = self.xx + torch.diag(penalty)
            chol, info = torch.linalg.cholesky_ex(a)
            if int(info) == 0:
                self.W_out.copy_(torch.cholesky_solve(self.yx.T, chol).T)
            else:  # singular (ridge = 0 and too few distinct states): the minimum-norm solution
                self.W_out.copy_((torch.linalg.pinv(a, hermitian=True) @ self.yx.T).T)
        self.stale.fill_(False)

    def _logits(self, h: torch.Tensor, batch: Batch) -> torch.Tensor:
        if self.linear is not None:
            return self.linear(h)
        out = self.features(h).to(torch.float64) @ self.W_out.T
        floor = self.config.prob_floor
        if batch.target_prob is not None:  # regressed probabilities -> logits (module docstring)
            out = torch.logit(out.clamp(floor, 1 - floor))
        elif batch.target_value is None:  # one-hot regression outputs -> log-probabilities
            out = out.clamp_min(floor).log()
        return out.to(h.dtype)

    def _targets(self, batch: Batch) -> torch.Tensor:
        if batch.target_value is not None:
            if batch.target_value.shape[-1] != self.n_out:
                raise DataError(f"the task's target_value has {batch.target_value.shape[-1]} outputs but "
                                f"the esn learner was built for n_classes={self.n_out}")
            return batch.target_value
        if batch.target_prob is not None:
            if batch.target_prob.shape[-1] != self.n_out:
                raise DataError(f"the task's target_prob has {batch.target_prob.shape[-1]} outputs but "
                                f"the esn learner was built for n_classes={self.n_out}")
            return batch.target_prob
        return F.one_hot(batch.target_label, self.n_out)

    def _weights(self, batch: Batch, age: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Per-target weight: the task's (1 without one), 0 during a stream's washout."""
        w = batch.weight.to(dtype) if batch.weight is not None else torch.ones(age.shape, dtype=dtype, device=age.device)
        return w * (age > self.config.washout).to(dtype)

    def _losses(self, logits: torch.Tensor, batch: Batch, w: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """sum_b w_b l_b / B with l = cross-entropy, 0.5 squared error or the Bernoulli cross-entropy
        summed over outputs; logged with nll, mse, or bce and sse."""
        if batch.target_value is not None:
            sq = ((logits - batch.target_value.to(logits.dtype)) ** 2).sum(-1)
            loss = (w * 0.5 * sq).sum() / w.shape[0]
            return loss, {"loss": float(loss.detach()), "mse": float((w * sq.detach()).sum() / w.shape[0])}
        if batch.target_prob is not None:
            bce, sse = bernoulli_scores(logits, batch.target_prob)
            loss = (w * bce).sum() / w.shape[0]
            return loss, {"loss": float(loss.detach()), "bce": float(loss.detach()),
                          "sse": float((w * sse.detach()).sum() / w.shape[0])}
        nll = F.cross_entropy(logits, batch.target_label, reduction="none")
        loss = (w * nll).sum() / w.shape[0]
        return loss, {"loss": float(loss.detach()), "nll": float(loss.detach())}

    # -- the learner API ---------------------------------------------------------------------
    def learn(self, state: State, batch: Batch) -> tuple[State, StepOutput]:
        with torch.no_grad():
            h, age = self._advance(state, batch)
        w = self._weights(batch, age, h.dtype)
        if self.linear is not None:  # online: the gradient of this step's loss, readout only
            logits = self._logits(h, batch)
            loss, losses = self._losses(logits, batch, w)
            loss.backward()
            return {"h": h, "age": age}, StepOutput(logits.detach(), losses, update=True)
        with torch.no_grad():
            if bool(self.stale) and int(self.steps) % self.config.solve_every == 0:
                self.solve()
            logits = self._logits(h, batch)  # before this step is absorbed: prequential
            _, losses = self._losses(logits, batch, w)
            f = self.features(h).to(torch.float64)
            wf = f * w.to(torch.float64).view(-1, 1)
            self.xx += wf.T @ f
            self.yx += self._targets(batch).to(torch.float64).T @ wf
            self.stale.fill_(True)
            self.steps += 1
        return {"h": h, "age": age}, StepOutput(logits, losses, update=False)

    @torch.no_grad()
    def infer(self, state: State, batch: Batch) -> tuple[State, torch.Tensor]:
        h, age = self._advance(state, batch)
        if self.linear is None and bool(self.stale):
            self.solve()
        return {"h": h, "age": age}, self._logits(h, batch)

    def on_epoch_end(self) -> None:
        if self.linear is None and bool(self.stale):
            self.solve()

    def param_groups(self) -> list[dict]:
        # the ridge readout has nothing for an optimizer; the online readout is a classifier group
        return [] if self.linear is None else [{"params": list(self.linear.parameters()), "name": "classifier"}]
