"""Shared pieces of the online learners' oracle tests: exact BPTT by autograd through the unrolled
cell, and what an online learner accumulates in p.grad over the same steps (parameters fixed)."""
from __future__ import annotations

import torch

from nobptt.learners.online.base import step_loss
from nobptt.learners.registry import build_learner
from nobptt.tasks.base import Batch


def tiny_learner(name: str, input_dim: int = 3, n_classes: int = 2, seed: int = 0, **options):
    """A float64 learner with small defaults (hidden 4) for oracle tests."""
    torch.manual_seed(seed)
    return build_learner(name, {"hidden": 4, "update_every": 0, **options}, input_dim, n_classes).double()


def random_episode(steps: int, batch: int = 2, input_dim: int = 3, n_classes: int = 2, seed: int = 1,
                   regression: bool = False) -> list[Batch]:
    g = torch.Generator().manual_seed(seed)
    xs = torch.randn(steps, batch, input_dim, generator=g, dtype=torch.float64)
    labels = torch.randint(0, n_classes, (steps, batch), generator=g)
    values = torch.randn(steps, batch, n_classes, generator=g, dtype=torch.float64)
    return [Batch(x=xs[t], label=labels[t], target_x=xs[t], target_label=labels[t],
                  target_value=values[t] if regression else None, ends_sequence=t == steps - 1)
            for t in range(steps)]


def bptt_gradient(learner, batches: list[Batch]) -> dict[str, torch.Tensor]:
    """d/dtheta of sum_t l_t by autograd through the whole unrolled sequence (the oracle)."""
    learner.zero_grad(set_to_none=True)
    h = learner.initial_state(batches[0].x.shape[0], "cpu")["h"]
    params = learner.cell.params()  # live parameters: the graph reaches them
    total = 0.0
    for batch in batches:
        h = learner.cell.step(params, h, batch.x)
        total = total + step_loss(learner.predict(h), batch)[0]
    names = [n for n, _ in learner.named_parameters()]
    grads = torch.autograd.grad(total, [p for _, p in learner.named_parameters()], allow_unused=True)
    return {n: (g if g is not None else torch.zeros_like(p)) for n, g, p in zip(names, grads, learner.parameters())}


def online_gradient(learner, batches: list[Batch]) -> dict[str, torch.Tensor]:
    """The gradient the learner accumulates in p.grad over ``batches``, no update applied."""
    learner.zero_grad(set_to_none=True)
    state = learner.initial_state(batches[0].x.shape[0], "cpu")
    for batch in batches:
        state, _ = learner.learn(state, batch)
    return {n: (p.grad.clone() if p.grad is not None else torch.zeros_like(p)) for n, p in learner.named_parameters()}


def max_abs_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)
