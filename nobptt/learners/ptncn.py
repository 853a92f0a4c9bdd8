"""P-TNCN: the two-layer Parallel Temporal Neural Coding Network trained by Local Representation
Alignment (Ororbia, Mali, Giles & Kifer, TNNLS 2020; arXiv 1810.07411), as the official code
(AnkurMali/ContinualPTNCN) runs it. The equations are in nobptt/learners/ptncn_rules.py and
docs/ptncn.md; this module maps them onto the learner API.

No autograd anywhere: every step runs under ``torch.no_grad()`` and writes the local updates
(clipped, divided by the batch size, as the code does) into ``p.grad``; the trainer's optimizer
applies them every step (the code's ``accum_updates = False``). No gradient crosses a time step or
a layer, and no activation derivative is used.

Time indexing. The paper's step t builds z_t from x_{t-1} and the corrected states y_{t-1},
predicts x_t, and corrects the states with the observed x_t. Our batch at step k holds the input
``batch.x`` and the target (the next input), so one learner step is the paper's step t = k + 1
with x_{t-1} = batch.x and x_t = the target: the prediction is made before the target is seen
(the logits returned are scored against it, prequentially), the correction then uses that
observed target, and the corrected y is carried to the next step. Nothing leaks: the state
carried into step k + 1 has seen targets up to step k, which is batch k + 1's input anyway.

The paper's step t = 0 predicts x_0 from nothing (x_{-1} = 0, zero states) and corrects the
states with x_0; it is never updated on (the code's t' = 1) nor scored. We run it too, as a
"prime" cycle on a stream's first step after a start or reset, with zero input and zero states
and ``batch.x`` (the stream's x_0) as its observed value, so that the state entering the paper's
step 1 is the code's, not zeros. Its observed value is ``one_hot(batch.label)`` for symbol tasks
and ``batch.x`` for frame tasks (where input and output have one size); a task with neither has
no error units in the prime, whose states are then f(0). ``first_update_step`` (t') counts the
paper's steps: with t' = 1 every learner step updates; t' = 2 also skips the first scored step.

Targets: ``batch.target_prob`` (B, C) in [0, 1] (frames; sigmoid output, e0 = sigmoid - target,
Bernoulli cross-entropy summed over outputs as the loss), else ``batch.target_value``
(identity output, squared error), else ``batch.target_label`` (one-hot; softmax, cross-entropy).
``batch.weight`` (0 = padding) is the paper's mask m_t on every error unit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nobptt.errors import ConfigError, DataError
from nobptt.learners.base import Learner, State, StepOutput
from nobptt.learners.ptncn_rules import ACTIVATIONS, OUTPUTS, cycle, deltas, target_loss
from nobptt.learners.registry import register_learner
from nobptt.tasks.base import Batch
from nobptt.validation import check_ranges

RULES = ("code", "paper")
E_RULES = ("code", "temporal")


@dataclass
class PTNCNConfig:
    hidden: int = 250  # units in each of the two latent layers (the code: 1000, earlier 250)
    beta: float = 0.1  # strength of the state correction y = f(a - beta d) while training
    gamma_e: float = 0.001  # weight of -e^l in layer l's own target (the code's alpha_e)
    gamma: float = 1.0  # scale of the E (error feedback) updates
    lam: float = 0.0  # sign (sparsity) prior in the correction; 0 = off as in the code
    act: str = "tanh"  # f_s: tanh | ltanh | relu | sigmoid | sign | step (the last two non-differentiable)
    out: str = "auto"  # f_out: auto (from the task: softmax for labels, sigmoid for target_prob,
    #                    identity for target_value) | softmax | sigmoid | identity
    top_down: bool = True  # the code's zeta > 0: U1 (layer 2 -> 1) and M2 (layer 1 -> 2) present
    w2_rule: str = "code"  # W2's update: code (z2^T eps1) | paper (z2^T e1)
    e_rule: str = "code"  # E's update: code (gamma (Delta W)^T) | temporal (the code's temporal error rule)
    update_radius: float = 1.0  # Frobenius clip of each batch-summed update before / B; 0 = off
    param_radius: float = 0.0  # per-row max-norm of every matrix (the paper's 30?); 0 = off as in the code
    init_sd: float = 0.05  # N(0, init_sd^2) for W, M, V, U
    err_init_sd: float = 0.05  # N(0, err_init_sd^2) for E
    # correction strength when evaluating (infer); None = beta; 0 = no state correction (the
    # zero-shot comparison: a frozen P-TNCN that does not adapt its states)
    beta_eval: float | None = None
    first_update_step: int = 1  # t': update on the paper's steps t >= t' (t = 0 is the prime cycle)

    # fields `nobptt eval --set model.FIELD=...` may change: read by infer only, not by learning
    EVAL_FIELDS = ("beta_eval",)

    def __post_init__(self) -> None:
        check_ranges(self, positive="hidden first_update_step", non_negative="beta gamma_e gamma lam "
                     "update_radius param_radius init_sd err_init_sd")
        if self.beta_eval is not None:
            if isinstance(self.beta_eval, bool) or not isinstance(self.beta_eval, (int, float)) \
                    or not 0 <= self.beta_eval < float("inf"):
                raise ConfigError(f"model.beta_eval={self.beta_eval!r} must be a finite number >= 0 "
                                  "(or left out: the training beta)")
        for name, value, choices in (("act", self.act, tuple(ACTIVATIONS)),
                                     ("out", self.out, ("auto", *OUTPUTS)),
                                     ("w2_rule", self.w2_rule, RULES), ("e_rule", self.e_rule, E_RULES)):
            if value not in choices:
                raise ConfigError(f"model.{name}={value!r} must be one of {choices}")


MATRICES = ("W1", "W2", "E1", "E2", "M1", "M2", "V1", "V2", "U1")


def step_flops(config: PTNCNConfig, batch: int, input_dim: int, outputs: int) -> int:
    """Matrix-product FLOPs of one training step of a stream already started (no prime cycle) whose
    step is scored (2 per multiply-add; docs/bench.md#flops-of-an-esn-and-a-p-tncn-step). The cycle
    (ptncn_rules.cycle): the pre-activations x M1, y1 V1, y2 V2 (and y1 M2, y2 U1 with top-down
    control), the predictions z2 W2 and z1 W1, the error feedback e1 E2 and e0 E1; the updates
    (ptncn_rules.deltas): one outer product per matrix, W1, W2, M1, V1, V2 (and M2, U1), and with the
    temporal E rule e0^T (...) and e1^T (...) (the code rule transposes W's updates: no product)."""
    B, D, H, C = batch, input_dim, config.hidden, outputs
    square = 4 + (2 if config.top_down else 0)  # H x H products of the cycle: V1, V2, W2, E2 (+ M2, U1)
    cycle = 2 * B * (D * H + square * H * H + 2 * H * C)  # + M1, W1 and E1
    updates = 2 * B * (H * C + D * H + (3 + (2 if config.top_down else 0)) * H * H)  # W1, M1; W2, V1, V2 (+ M2, U1)
    if config.e_rule == "temporal":
        updates += 2 * B * (C * H + H * H)
    return cycle + updates


@register_learner("ptncn", config=PTNCNConfig,
                  optim={"optimizer": "sgd", "lr": 0.075, "momentum": 0.95, "nesterov": True},
                  description="P-TNCN trained by local representation alignment: no unrolling, no derivatives")
class PTNCNLearner(Learner):
    def __init__(self, config: PTNCNConfig, input_dim: int, n_classes: int) -> None:
        super().__init__()
        self.config = c = config
        h = c.hidden
        shapes = {"W1": (h, n_classes), "W2": (h, h), "E1": (n_classes, h), "E2": (h, h),
                  "M1": (input_dim, h), "V1": (h, h), "V2": (h, h)}
        if c.top_down:
            shapes.update(M2=(h, h), U1=(h, h))
        for name in MATRICES:
            if name in shapes:  # drawn in a fixed order from the global RNG (the trainer seeds it)
                sd = c.err_init_sd if name.startswith("E") else c.init_sd
                self.register_parameter(name, nn.Parameter(torch.randn(shapes[name]) * sd))
        self.n_out = n_classes

    def params(self) -> dict[str, nn.Parameter]:
        """The matrices by name (W1, W2, E1, E2, M1, V1, V2, and M2, U1 with top-down control)."""
        return {name: p for name, p in self.named_parameters()}

    def initial_state(self, batch_size: int, device: torch.device | str) -> State:
        dtype = self.W1.dtype
        zeros = lambda: torch.zeros(batch_size, self.config.hidden, device=device, dtype=dtype)  # noqa: E731
        # age: the stream's learner steps since its start or reset (0 = its prime cycle is due)
        return {"y1": zeros(), "y2": zeros(), "eps1": zeros(), "eps2": zeros(),
                "age": torch.zeros(batch_size, dtype=torch.long, device=device)}

    # -- targets ----------------------------------------------------------------------------------
    def _target(self, batch: Batch, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None, str]:
        """(target (B, C), its labels or None, the output function) of this batch."""
        prob = getattr(batch, "target_prob", None)
        if prob is not None:
            target, label, out = prob, None, "sigmoid"
        elif batch.target_value is not None:
            target, label, out = batch.target_value, None, "identity"
        else:
            target, label, out = F.one_hot(batch.target_label, self.n_out), batch.target_label, "softmax"
        if target.shape[-1] != self.n_out:
            raise DataError(f"the task's targets have {target.shape[-1]} outputs but the ptncn learner "
                            f"was built for n_classes={self.n_out}")
        return target.to(dtype), label, (out if self.config.out == "auto" else self.config.out)

    def _prime_target(self, batch: Batch, dtype: torch.dtype) -> torch.Tensor | None:
        """The observed x_0 of the paper's step 0 in output space (module docstring)."""
        if getattr(batch, "target_prob", None) is None and batch.target_value is None:
            if int(batch.label.min()) < 0 or int(batch.label.max()) >= self.n_out:
                return None  # the input's labels are not in the output's space: no observed x_0
            return F.one_hot(batch.label, self.n_out).to(dtype)
        return batch.x.to(dtype) if batch.x.shape[-1] == self.n_out else None

    # -- one step ---------------------------------------------------------------------------------
    @torch.no_grad()
    def step_terms(self, state: State, batch: Batch, learning: bool = True) -> dict[str, Any]:
        """Every intermediate of one step by name (ptncn_rules.cycle's; ``prime_*`` those of the
        prime cycle when a stream started; ``delta_*`` the batch-summed updates and ``grad_*`` what
        is written into p.grad, when learning and some stream is scored; both after the update clip),
        the per-stream ``loss``,
        and the next ``state``."""
        c, params = self.config, self.params()
        dtype = self.W1.dtype
        y1, y2, eps1_prev, eps2_prev, age = state["y1"], state["y2"], state["eps1"], state["eps2"], state["age"]
        if batch.reset is not None and bool(batch.reset.any()):  # restart from zero state, x_prev = 0
            keep = (~batch.reset).to(dtype).view(-1, 1)
            y1, y2, eps1_prev, eps2_prev = y1 * keep, y2 * keep, eps1_prev * keep, eps2_prev * keep
            age = torch.where(batch.reset, torch.zeros_like(age), age)
        beta = c.beta if learning or c.beta_eval is None else c.beta_eval
        kw = dict(act=c.act, beta=beta, gamma_e=c.gamma_e, lam=c.lam)
        target, label, out = self._target(batch, dtype)
        x = batch.x.to(dtype)
        terms: dict[str, Any] = {}
        fresh = age == 0
        if bool(fresh.any()):  # the paper's step 0 for the streams that just started
            zero = torch.zeros_like(y1)
            prime = cycle(params, torch.zeros_like(x), zero, zero, self._prime_target(batch, dtype),
                          fresh.to(dtype), out=out, **kw)
            f = fresh.view(-1, 1)
            y1, y2 = torch.where(f, prime["y1"], y1), torch.where(f, prime["y2"], y2)
            eps1_prev = torch.where(f, prime["eps1"], eps1_prev)
            eps2_prev = torch.where(f, prime["eps2"], eps2_prev)
            terms.update({f"prime_{k}": v for k, v in prime.items()})
        mask = batch.weight.to(dtype) if batch.weight is not None else torch.ones(x.shape[0], dtype=dtype, device=x.device)
        main = cycle(params, x, y1, y2, target, mask, out=out, **kw)
        terms.update(main)
        terms["mask"], terms["loss"] = mask, target_loss(main["logits"], target, label, out)
        if learning:
            scored = (age + 1 >= c.first_update_step).to(dtype)
            terms["scored"] = scored
            if bool(scored.any()):
                for name, delta in deltas(main, scored, eps1_prev, eps2_prev, w2_rule=c.w2_rule, e_rule=c.e_rule,
                                          gamma=c.gamma, top_down=c.top_down, radius=c.update_radius).items():
                    terms[f"delta_{name}"] = delta
                    # clipped as summed over the batch, then averaged (the code's order)
                    terms[f"grad_{name}"] = (delta / x.shape[0]).contiguous()
        terms["state"] = {"y1": main["y1"], "y2": main["y2"], "eps1": main["eps1"], "eps2": main["eps2"],
                          "age": age + 1}
        return terms

    @torch.no_grad()
    def _max_norm(self) -> None:
        """The per-row max-norm of every matrix (the code's clip_by_norm(axes=[1]) after an update).
        Applied before each training step, i.e. after the previous step's optimizer update."""
        for p in self.parameters():
            p.copy_(torch.renorm(p, 2, 0, self.config.param_radius))

    def learn(self, state: State, batch: Batch) -> tuple[State, StepOutput]:
        if self.config.param_radius:
            self._max_norm()
        terms = self.step_terms(state, batch, learning=True)
        update = "grad_W1" in terms
        if update:
            for name, p in self.params().items():
                p.grad = terms[f"grad_{name}"]  # written, not accumulated: an update every step
        loss = float((terms["loss"] * terms["mask"]).sum()) / terms["loss"].shape[0]
        return terms["state"], StepOutput(terms["logits"], {"loss": loss}, update=update)

    @torch.no_grad()
    def infer(self, state: State, batch: Batch) -> tuple[State, torch.Tensor]:
        """Update, predict and correct (with beta_eval) without learning: the frozen P-TNCN of the
        zero-shot test still adapts its states to what it observes."""
        terms = self.step_terms(state, batch, learning=False)
        return terms["state"], terms["logits"]

    def param_groups(self) -> list[dict]:
        return [{"params": list(self.parameters()), "name": "ptncn"}]
