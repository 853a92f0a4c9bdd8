"""Held-out evaluation of a learner: no optimizer, no learning, a fresh state.

One function, used by the trainer's periodic evaluations and by ``nobptt eval`` alike.
"""
from __future__ import annotations

import torch

from nobptt.learners.base import Learner
from nobptt.tasks.base import Stream, bernoulli_scores


def evaluate(learner: Learner, stream: Stream, warmup: int, steps: int,
             device: torch.device | str) -> dict[str, float]:
    """Held-out accuracy and mean negative log-likelihood (nats per target), or, for regression
    targets (``batch.target_value``), the mean squared error per target, or, for Bernoulli targets
    (``batch.target_prob``), the mean BCE and SSE per target summed over its outputs (per frame,
    for a video: ``heldout_bce``, ``heldout_sse``), of ``learner`` on ``stream`` from a fresh
    state, without learning; and each of the learner's ``infer_diagnostics`` averaged over the steps
    that report it (``heldout_NAME``, e.g. ``heldout_gate_open``; steps of padding alone report none).

    A finite stream (``stream.length``) is read once, whole, and its targets are weighted by
    ``batch.weight`` (``warmup`` and ``steps`` are then unused); an endless one is read for
    ``warmup`` unscored steps, then ``steps`` scored ones. The learner is left in training mode.
    """
    device = torch.device(device)
    state = learner.initial_state(stream.batch_size, device)
    length = getattr(stream, "length", None)  # streams written before finite ones existed lack it
    if length:
        warmup, total_steps = 0, length
    else:
        total_steps = warmup + steps
    correct = nll = squared = bce = sse = total = 0.0
    regression = bernoulli = False
    diagnostics: dict[str, list[float]] = {}  # name -> [sum, steps] of Learner.infer_diagnostics
    diagnose = getattr(learner, "infer_diagnostics", None)  # a learner not derived from Learner may lack it
    learner.eval()
    for i in range(total_steps):
        batch = stream.next_batch().to(device)
        if i >= warmup and diagnose is not None:
            for name, value in diagnose(state, batch).items():
                diagnostics.setdefault(name, [0.0, 0])
                diagnostics[name][0] += value
                diagnostics[name][1] += 1
        state, logits = learner.infer(state, batch)
        if i >= warmup:
            weight = batch.weight if batch.weight is not None else torch.ones_like(batch.target_label, dtype=torch.float)
            total += float(weight.sum())
            if batch.target_value is not None:
                regression = True
                squared += float((((logits.float() - batch.target_value) ** 2).sum(-1) * weight).sum())
                continue
            if batch.target_prob is not None:
                bernoulli = True
                frame_bce, frame_sse = bernoulli_scores(logits.float(), batch.target_prob)
                bce += float((frame_bce * weight).sum())
                sse += float((frame_sse * weight).sum())
                continue
            losses = torch.nn.functional.cross_entropy(logits.float(), batch.target_label, reduction="none")
            correct += float(((logits.argmax(dim=-1) == batch.target_label).float() * weight).sum())
            nll += float((losses * weight).sum())
    learner.train()
    means = {f"heldout_{name}": value / count for name, (value, count) in diagnostics.items()}
    if regression:
        return {"heldout_mse": squared / total, **means}
    if bernoulli:
        return {"heldout_bce": bce / total, "heldout_sse": sse / total, **means}
    return {"heldout_accuracy": correct / total, "heldout_nll": nll / total, **means}
