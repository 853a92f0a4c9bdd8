"""Bernoulli targets (``Batch.target_prob``): the BCE/SSE scores, the online harness's loss, the
ESN's ridge readout, SAB's loss and the held-out evaluation (docs/bouncing.md#metrics)."""
import math

import pytest
import torch

from nobptt.learners.online.base import step_loss
from nobptt.learners.registry import build_learner
from nobptt.learners.sab import SABLearner
from nobptt.tasks.base import Batch, bernoulli_scores
from nobptt.train.evaluation import evaluate
from online_oracle import bptt_gradient, max_abs_difference, online_gradient, tiny_learner

B, D = 3, 4


def bernoulli_episode(steps: int, seed: int = 1, input_dim: int = 3, dtype=torch.float64) -> list[Batch]:
    """Random inputs and targets in [0, 1] (some exactly 0 or 1, as a frame's pixels are)."""
    g = torch.Generator().manual_seed(seed)
    xs = torch.randn(steps, B, input_dim, generator=g, dtype=dtype)
    probs = torch.rand(steps, B, D, generator=g, dtype=dtype)
    probs[:, :, 0] = 0.0
    probs[:, :, 1] = 1.0
    zero = torch.zeros(B, dtype=torch.long)
    return [Batch(x=xs[t], label=zero, target_x=xs[t], target_label=zero, target_prob=probs[t],
                  reset=torch.full((B,), t == 0), ends_sequence=t == steps - 1) for t in range(steps)]


def test_scores_are_the_bernoulli_cross_entropy_and_squared_error_summed_over_outputs():
    logits = torch.tensor([[0.0, 2.0, -1.0], [3.0, -3.0, 0.5]], dtype=torch.float64)
    target = torch.tensor([[0.0, 1.0, 0.25], [1.0, 0.0, 0.5]], dtype=torch.float64)
    bce, sse = bernoulli_scores(logits, target)
    for b in range(2):
        p = [1 / (1 + math.exp(-v)) for v in logits[b].tolist()]
        t = target[b].tolist()
        by_hand = -sum(ti * math.log(pi) + (1 - ti) * math.log(1 - pi) for pi, ti in zip(p, t))
        assert bce[b].item() == pytest.approx(by_hand, rel=1e-12)
        assert sse[b].item() == pytest.approx(sum((pi - ti) ** 2 for pi, ti in zip(p, t)), rel=1e-12)


def test_step_loss_gradient_is_sigmoid_minus_target_and_logs_bce_and_sse():
    batch = bernoulli_episode(1)[0]
    batch.weight = torch.tensor([1.0, 0.0, 0.5], dtype=torch.float64)
    out = torch.randn(B, D, dtype=torch.float64, requires_grad=True)
    loss, logged = step_loss(out, batch)
    loss.backward()
    expected = (torch.sigmoid(out) - batch.target_prob) * batch.weight.view(-1, 1) / B
    assert torch.allclose(out.grad, expected.detach(), atol=1e-14)
    bce, sse = bernoulli_scores(out.detach(), batch.target_prob)
    assert logged["bce"] == pytest.approx(float((bce * batch.weight).sum() / 1.5))
    assert logged["sse"] == pytest.approx(float((sse * batch.weight).sum() / 1.5))
    assert "nll" not in logged and "mse" not in logged


@pytest.mark.parametrize("name", ["rtrl", "bptt"])
def test_exact_online_gradients_of_a_bernoulli_loss_equal_bptt(name):
    learner = tiny_learner(name, n_classes=D)
    episode = bernoulli_episode(5)
    assert max_abs_difference(online_gradient(learner, episode), bptt_gradient(learner, episode)) < 1e-10


@pytest.mark.parametrize("name,options", [("uoro", {}), ("eprop", {}), ("snap1", {}),
                                          ("tbptt", {"k": 2, "update_every": 2})])
def test_approximate_online_learners_train_on_bernoulli_targets(name, options):
    learner = tiny_learner(name, n_classes=D, **{"update_every": 1, **options})
    state = learner.initial_state(B, "cpu")
    for batch in bernoulli_episode(4):
        state, out = learner.learn(state, batch)
    assert out.logits.shape == (B, D) and "bce" in out.losses and math.isfinite(out.losses["bce"])
    assert learner.readout.weight.grad is not None and bool(learner.readout.weight.grad.abs().sum() > 0)


def test_esn_ridge_fits_the_probabilities_and_returns_their_clamped_logits():
    """Ridge on target_prob is the least-squares fit of the same numbers given as target_value; the
    logits are logit(clamp(p, floor, 1 - floor)), so BCE stays finite where p leaves [0, 1]."""
    episode = bernoulli_episode(40, input_dim=3, dtype=torch.float32)
    fitted = []
    for as_value in (False, True):
        torch.manual_seed(0)
        esn = build_learner("esn", {"hidden": 20, "ridge": 1e-3, "prob_floor": 0.01}, 3, D)
        state = esn.initial_state(B, "cpu")
        for batch in episode:
            if as_value:
                batch = Batch(**{**vars(batch), "target_value": batch.target_prob, "target_prob": None})
            state, out = esn.learn(state, batch)
        esn.solve()
        fitted.append(esn)
        if not as_value:
            assert out.losses.keys() >= {"bce", "sse"} and bool(torch.isfinite(out.logits).all())
    assert torch.allclose(fitted[0].W_out, fitted[1].W_out, atol=1e-9)
    esn = fitted[0]
    state = esn.initial_state(B, "cpu")
    for batch in episode[:3]:
        h = esn.reservoir_step(state["h"], batch.x) if batch.reset is None or not bool(batch.reset.any()) \
            else esn.reservoir_step(torch.zeros_like(state["h"]), batch.x)
        state, logits = esn.infer(state, batch)
        p = (esn.features(h).double() @ esn.W_out.T).clamp(0.01, 0.99)
        assert torch.allclose(logits.double(), torch.logit(p), atol=1e-5)
        assert bool(torch.isfinite(bernoulli_scores(logits, batch.target_prob)[0]).all())


def test_esn_online_readout_gradient_is_the_bernoulli_error():
    torch.manual_seed(0)
    esn = build_learner("esn", {"hidden": 20, "readout": "online"}, 3, D)
    with torch.no_grad():
        esn.linear.weight.normal_()
    batch = bernoulli_episode(1, dtype=torch.float32)[0]
    state = esn.initial_state(B, "cpu")
    h = esn.reservoir_step(state["h"], batch.x)
    _, out = esn.learn(state, batch)
    err = (torch.sigmoid(esn.linear(h)) - batch.target_prob).detach()
    assert torch.allclose(esn.linear.weight.grad, err.T @ h / B, atol=1e-6)


def test_sab_loss_is_the_mean_bernoulli_cross_entropy_of_the_episode():
    torch.manual_seed(0)
    sab = build_learner("sab", {"hidden": 6, "k_trunc": 2, "k_top": 2, "k_att": 2, "attn_dim": 4}, 3, D)
    assert isinstance(sab, SABLearner)
    episode = bernoulli_episode(6, dtype=torch.float32)
    state = sab.initial_state(B, "cpu")
    for batch in episode:
        state, out = sab.learn(state, batch)
    assert out.update and out.logits.shape == (B, D)
    # the same loss by hand, one graph
    total, _, _, _ = sab.sequence_loss(episode, torch.zeros(B, 6), torch.zeros(B, 6))
    h = c = torch.zeros(B, 6)
    assert out.losses["loss"] == pytest.approx(float(total), rel=1e-5)
    by_hand = 0.0
    with torch.no_grad():  # the output at step i is the last output of the first i + 1 steps (causal)
        for i, batch in enumerate(episode):
            per = bernoulli_scores(sab.sequence_loss(episode[: i + 1], h, c)[1], batch.target_prob)[0]
            by_hand += float(per.sum())
    assert float(total) == pytest.approx(by_hand / (B * len(episode)), rel=1e-5)
    assert all(p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in sab.parameters())


class _Constant(torch.nn.Module):
    """A learner whose logits are a fixed tensor: what evaluate() scores is known exactly."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def initial_state(self, batch_size, device):
        return {}

    def infer(self, state, batch):
        return state, self.logits


class _Finite:
    batch_size, input_dim, n_classes = B, 3, D

    def __init__(self, episode):
        self.episode, self.length, self.i = episode, len(episode), 0

    def next_batch(self):
        self.i += 1
        return self.episode[self.i - 1]


def test_evaluation_reports_bce_and_sse_per_target():
    episode = bernoulli_episode(3, dtype=torch.float32)
    episode[2].weight = torch.tensor([1.0, 0.0, 1.0])
    logits = torch.randn(B, D)
    metrics = evaluate(_Constant(logits), _Finite(episode), 0, 0, "cpu")
    weights = [torch.ones(B), torch.ones(B), episode[2].weight]
    bce = sum(float((bernoulli_scores(logits, b.target_prob)[0] * w).sum()) for b, w in zip(episode, weights))
    sse = sum(float((bernoulli_scores(logits, b.target_prob)[1] * w).sum()) for b, w in zip(episode, weights))
    assert set(metrics) == {"heldout_bce", "heldout_sse"}
    assert metrics["heldout_bce"] == pytest.approx(bce / 8, rel=1e-6)
    assert metrics["heldout_sse"] == pytest.approx(sse / 8, rel=1e-6)
