"""UORO's oracle: its gradient estimate is unbiased, i.e. the mean over K = 10^4 independent noise
draws on one fixed trajectory is RTRL's exact gradient within 4 sigma / sqrt(K) in every coordinate
(float64); a deliberately biased variant fails the same check, so the check can fail."""
import copy
import io

import pytest
import torch

from nobptt.cells.jacobians import flatten
from nobptt.learners.online.uoro import UORO
from nobptt.tasks.base import Batch
from tests.online_oracle import max_abs_difference, online_gradient, random_episode, tiny_learner

K = 10_000  # independent noise streams
STEPS = 6


def repeated(batches: list[Batch], k: int) -> list[Batch]:
    """The same one-stream trajectory in k rows: k streams see identical inputs and targets, so they
    differ only in their noise (the rows of one batch are independent streams)."""
    def rows(v):
        return v.expand(k, *v.shape[1:]).contiguous() if isinstance(v, torch.Tensor) else v
    return [Batch(**{f: rows(v) for f, v in vars(b).items()}) for b in batches]


def per_stream_estimates(learner: UORO, batches: list[Batch]) -> torch.Tensor:
    """Each stream's accumulated estimate of the one-stream gradient, (K, p). The step loss is a
    batch mean, so each stream's q carries 1/K: multiplied back here."""
    total = []
    original = learner.stream_gradients

    def record(traces, q):
        per = original(traces, q)
        total.append(per)
        return per

    learner.stream_gradients = record  # an instance attribute: this learner only
    try:
        online_gradient(learner, batches)
    finally:
        del learner.stream_gradients
    return torch.stack(total).sum(0) * batches[0].x.shape[0]


def unbiasedness(learner: UORO) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(|mean - exact|, 4 sigma / sqrt(K), exact) per coordinate of the cell's parameters."""
    trajectory = random_episode(STEPS, batch=1, seed=4)
    rtrl = tiny_learner("rtrl", hidden=3, input_dim=3)
    rtrl.load_state_dict(learner.state_dict(), strict=False)
    exact = flatten({k: v for k, v in online_gradient(rtrl, trajectory).items() if k.startswith("cell.")})
    estimates = per_stream_estimates(learner, repeated(trajectory, K))
    mean, sigma = estimates.mean(0), estimates.std(0)
    return (mean - exact).abs(), 4 * sigma / K ** 0.5, exact


def test_uoro_is_unbiased_against_rtrl():
    learner = tiny_learner("uoro", hidden=3, input_dim=3)
    error, bound, exact = unbiasedness(learner)
    assert exact.abs().max() > 1e-2  # a real gradient
    assert bool((bound > 0).all())  # every coordinate is estimated with noise, and checked
    assert bool((error < bound).all()), (error / bound).max()


class WrongSign(UORO):
    """theta's new term enters with the wrong sign: E[s theta^T] = J M_{t-1} - Mbar_t, biased."""

    def combine(self, js, theta, nu, nu_mbar):
        rho0, rho1 = self.rescaling(js, theta, nu, nu_mbar)
        return rho0 * js + rho1 * nu, theta / rho0 - nu_mbar / rho1


class NoRescaling(UORO):
    """rho0 = rho1 = 1: still unbiased (the rescaling only lowers the variance)."""

    def combine(self, js, theta, nu, nu_mbar):
        return js + nu, theta + nu_mbar


def as_variant(cls):
    learner = tiny_learner("uoro", hidden=3, input_dim=3)
    learner.__class__ = cls
    return learner


def test_a_biased_variant_fails_the_unbiasedness_check():
    error, bound, _ = unbiasedness(as_variant(WrongSign))
    assert bool((error > bound).any())


def test_without_rescaling_uoro_is_still_unbiased():
    error, bound, _ = unbiasedness(as_variant(NoRescaling))
    assert bool((error < bound).all()), (error / bound).max()


def test_state_is_n_plus_p_floats_per_stream():
    learner = tiny_learner("uoro", hidden=5)
    p = sum(v.numel() for v in learner.cell.parameters())
    assert learner.trace_bytes(learner.initial_state(3, "cpu")) == 3 * (5 + p) * 8 == 3 * learner.trace_formula() * 8


def test_resume_from_a_saved_state_repeats_the_noise_exactly():
    """The noise generator's state is in the learner state: a state saved mid-run and loaded back
    (as a checkpoint does) gives the same gradients as the uninterrupted run; a fresh learner
    built from the same global seed draws the same noise."""
    episode = random_episode(8, seed=5)
    a = tiny_learner("uoro")
    state = a.initial_state(2, "cpu")
    for batch in episode[:4]:
        state, _ = a.learn(state, batch)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    saved = torch.load(io.BytesIO(buffer.getvalue()), weights_only=False)
    b = copy.deepcopy(a)
    a.zero_grad(set_to_none=True)
    b.zero_grad(set_to_none=True)
    for batch in episode[4:]:
        state, _ = a.learn(state, batch)
        saved, _ = b.learn(saved, batch)
    assert max_abs_difference({n: p.grad for n, p in a.named_parameters()},
                              {n: p.grad for n, p in b.named_parameters()}) == 0
    assert torch.equal(state["traces"]["theta"], saved["traces"]["theta"])
    again = tiny_learner("uoro")  # the same seed: the same noise
    assert max_abs_difference(online_gradient(again, episode), online_gradient(tiny_learner("uoro"), episode)) == 0


def test_streams_draw_different_noise_and_steps_advance_the_generator():
    learner = tiny_learner("uoro")
    state = learner.initial_state(2, "cpu")
    batch = random_episode(1)[0]
    same = Batch(**{f: (v[:1].expand_as(v).contiguous() if isinstance(v, torch.Tensor) else v)
                    for f, v in vars(batch).items()})
    state, _ = learner.learn(state, same)
    s = state["traces"]["s"]
    assert not torch.equal(s[0], s[1])  # identical streams, independent noise
    assert not torch.equal(state["noise"], learner.initial_state(2, "cpu")["noise"])


@pytest.mark.parametrize("value", [0.0, -1e-7])
def test_epsilon_must_be_positive(value):
    from nobptt.errors import ConfigError
    with pytest.raises(ConfigError, match="epsilon"):
        tiny_learner("uoro", epsilon=value)
