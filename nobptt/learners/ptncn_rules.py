"""The arithmetic of one P-TNCN time step, as pure functions of tensors (docs/ptncn.md).

Ororbia, Mali, Giles & Kifer, "Continual Learning of Recurrent Neural Networks by Locally
Aligning Distributed Representations" (TNNLS 2020; arXiv 1810.07411). The equations are those of
the official TensorFlow code (AnkurMali/ContinualPTNCN) in its row-major convention: a state is
(B, H) and a matrix maps ``in @ W``. Nothing here builds an autograd graph: the learner
(nobptt/learners/ptncn.py) calls these under ``torch.no_grad()``, and no rule uses an activation's
derivative -- which is why the non-differentiable ``sign`` and ``step`` units train.

One step ("cycle"), every layer from quantities of the previous step only, so the layers run in
parallel (paper: update / predict / correct):

    a2 = y1_prev M2 + y2_prev V2                 z2 = f(a2)          (no M2 without top-down)
    a1 = x M1 + y2_prev U1 + y1_prev V1          z1 = f(a1)          (no U1 without top-down)
    z1_hat = z2 W2                               x_hat = f_out(z1 W1)         (predict)
    e0 = (x_hat - target) m                      e1 = (z1_hat - z1) m         (error units)
    d2 = e1 E2 [+ lam sign(a2)]                  d1 = e0 E1 - gamma_e e1 [+ lam sign(a1)]
    y2 = f(a2 - beta d2)                         y1 = f(a1 - beta d1)         (correct)
    eps1 = (z1 - y1) m                           eps2 = (z2 - y2) m           (mismatch units)

and the local updates (``deltas``), each a batch-summed outer product.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

Tensor = torch.Tensor

# f_s of the official code's act_fun options (ltanh: LeCun's 1.7159 tanh(2x/3)); "step" is the
# code's fallback "gte", 1[x >= 0]. sign and step have no useful derivative: LRA never asks for one.
ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": torch.tanh,
    "ltanh": lambda a: 1.7159 * torch.tanh(a * (2.0 / 3.0)),
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "sign": torch.sign,
    "step": lambda a: (a >= 0).to(a.dtype),
}

# f_out on the logits z1 W1: softmax for symbols (PTB), sigmoid for pixel probabilities, identity
# for real-valued targets
OUTPUTS: dict[str, Callable[[Tensor], Tensor]] = {
    "softmax": lambda v: torch.softmax(v, dim=-1),
    "sigmoid": torch.sigmoid,
    "identity": lambda v: v,
}


def cycle(params: dict[str, Tensor], x: Tensor, y1_prev: Tensor, y2_prev: Tensor, target: Tensor | None,
          mask: Tensor, *, act: str, out: str, beta: float, gamma_e: float, lam: float) -> dict[str, Tensor]:
    """One update / predict / correct step; every intermediate of the module docstring by name.

    ``params`` holds W1 (H, C), W2 (H, H), E1 (C, H), E2 (H, H), M1 (D, H), V1, V2 (H, H) and, with
    top-down control, M2 and U1 (H, H). ``x`` (B, D) is the input the new states see (the paper's
    x_{t-1}), ``target`` (B, C) what the prediction is compared with (the paper's x_t; None: no
    error units, so no correction), ``mask`` (B,) the paper's m_t (0 = padding).
    """
    f, f_out = ACTIVATIONS[act], OUTPUTS[out]
    m = mask.view(-1, 1)
    a2 = y2_prev @ params["V2"]
    a1 = x @ params["M1"] + y1_prev @ params["V1"]
    if "M2" in params:  # top-down control on (the code's zeta > 0): layer 1 hears layer 2
        a2 = a2 + y1_prev @ params["M2"]
        a1 = a1 + y2_prev @ params["U1"]
    z2, z1 = f(a2), f(a1)
    z1_hat = z2 @ params["W2"]  # the code applies no f_p to the hidden prediction (the paper does)
    logits = z1 @ params["W1"]
    x_hat = f_out(logits)
    e0 = (x_hat - target) * m if target is not None else torch.zeros_like(x_hat)
    e1 = (z1_hat - z1) * m
    d2 = e1 @ params["E2"]
    d1 = e0 @ params["E1"] - gamma_e * e1
    if lam:  # the code's sparsity prior: beta * lam * sign(a) pulls a towards 0 (paper: other sign)
        d2, d1 = d2 + lam * torch.sign(a2), d1 + lam * torch.sign(a1)
    y2, y1 = f(a2 - beta * d2), f(a1 - beta * d1)
    eps1, eps2 = (z1 - y1) * m, (z2 - y2) * m
    return {"x": x, "y1_prev": y1_prev, "y2_prev": y2_prev, "a1": a1, "a2": a2, "z1": z1, "z2": z2,
            "z1_hat": z1_hat, "logits": logits, "x_hat": x_hat, "e0": e0, "e1": e1, "d1": d1, "d2": d2,
            "y1": y1, "y2": y2, "eps1": eps1, "eps2": eps2}


def deltas(terms: dict[str, Tensor], scored: Tensor, eps1_prev: Tensor, eps2_prev: Tensor, *,
           w2_rule: str, e_rule: str, gamma: float, top_down: bool, radius: float) -> dict[str, Tensor]:
    """The batch-summed updates Delta (applied as theta -= lr Delta / B) of one cycle, each clipped
    to Frobenius norm ``radius`` (0 = off) as the code's compute_updates does.

    ``scored`` (B,) is 1 where a stream's step counts for learning (t >= t'), else 0; the error
    units already carry the padding mask. Official code (docs/ptncn.md has the paper's forms):

        W1: z1^T e0      W2: z2^T eps1 (w2_rule "code") | z2^T e1 (w2_rule "paper")
        M1: x^T eps1     V1: y1_prev^T eps1     U1: y2_prev^T eps1
        M2: y1_prev^T eps2                      V2: y2_prev^T eps2
        E1, E2: gamma (Delta W)^T (e_rule "code": E - W^T stays constant under gamma = 1), or the
                code's temporal rule: -gamma e0^T (eps1 - eps1_prev), -gamma e1^T (eps2 - eps2_prev)

    Under the code rule E's update is gamma times W's update *after* W's clip, clipped again (the
    code's order; it matters only when gamma != 1).
    """
    s = scored.view(-1, 1)
    e0, e1, eps1, eps2 = terms["e0"] * s, terms["e1"] * s, terms["eps1"] * s, terms["eps2"] * s
    x, y1p, y2p = terms["x"], terms["y1_prev"], terms["y2_prev"]
    out = {"W1": terms["z1"].T @ e0,
           "W2": terms["z2"].T @ (eps1 if w2_rule == "code" else e1),
           "M1": x.T @ eps1, "V1": y1p.T @ eps1, "V2": y2p.T @ eps2}
    if top_down:
        out["M2"], out["U1"] = y1p.T @ eps2, y2p.T @ eps1
    out = {name: clip_frobenius(delta, radius) for name, delta in out.items()}
    if e_rule == "code":
        e1_delta, e2_delta = gamma * out["W1"].T, gamma * out["W2"].T
    else:
        e1_delta = -gamma * e0.T @ (terms["eps1"] - eps1_prev)
        e2_delta = -gamma * e1.T @ (terms["eps2"] - eps2_prev)
    out["E1"], out["E2"] = clip_frobenius(e1_delta, radius), clip_frobenius(e2_delta, radius)
    return out


def clip_frobenius(delta: Tensor, radius: float) -> Tensor:
    """``delta`` scaled to Frobenius norm ``radius`` when it is longer (tf.clip_by_norm; 0 = off)."""
    if not radius:
        return delta
    # min(1, radius / norm) as a tensor: no host sync per matrix on a GPU (norm 0: inf -> 1)
    return delta * (radius / torch.linalg.matrix_norm(delta)).clamp(max=1.0)


def target_loss(logits: Tensor, target: Tensor, label: Tensor | None, out: str) -> Tensor:
    """Per-stream loss (B,) of the prediction, for the metrics only (never differentiated): the
    cross-entropy in nats (softmax), the Bernoulli cross-entropy summed over outputs (sigmoid), or
    the squared error summed over outputs (identity)."""
    if out == "softmax":
        return F.cross_entropy(logits, label, reduction="none") if label is not None else \
            -(target * torch.log_softmax(logits, dim=-1)).sum(-1)
    if out == "sigmoid":
        return F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
    return ((logits - target) ** 2).sum(-1)
