"""RTRL's oracle: with the parameters fixed, its accumulated gradient is BPTT's (float64)."""
import pytest
import torch

from nobptt.cells.jacobians import flatten, parameter_jacobian, state_jacobian, step_jacobians, unflatten
from nobptt.cells.registry import build_cell, cell_names
from tests.online_oracle import bptt_gradient, max_abs_difference, online_gradient, random_episode, tiny_learner


@pytest.mark.parametrize("cell", cell_names())
@pytest.mark.parametrize("regression", [False, True])
def test_rtrl_accumulated_gradient_equals_bptt(regression, cell):
    learner = tiny_learner("rtrl", cell=cell)
    episode = random_episode(12, regression=regression)
    exact = bptt_gradient(learner, episode)
    online = online_gradient(learner, episode)
    assert max(float(g.abs().max()) for g in exact.values()) > 1e-3  # a real, non-zero gradient
    assert max_abs_difference(online, exact) < 1e-10


def test_rtrl_with_a_stream_restarted_midway_equals_bptt_of_the_two_episodes():
    """A reset stream's influence starts from zero: the gradient is the sum of the two episodes'."""
    learner = tiny_learner("rtrl")
    first, second = random_episode(5, seed=2), random_episode(7, seed=3)
    second[0].reset = torch.ones(2, dtype=torch.bool)
    expected = bptt_gradient(learner, first)
    later = bptt_gradient(learner, second)
    expected = {k: expected[k] + later[k] for k in expected}
    assert max_abs_difference(online_gradient(learner, first + second), expected) < 1e-10


@pytest.mark.parametrize("name", cell_names())
def test_cell_jacobians_match_autograd(name):
    """The torch.func Jacobians of every registered cell equal row-by-row autograd."""
    torch.manual_seed(0)
    cell = build_cell(name, 3, 4).double()
    params = {k: v.detach() for k, v in cell.params().items()}
    h = cell.initial_state(2, "cpu", torch.float64) + 0.3 * torch.randn(2, cell.state_size, dtype=torch.float64)
    x = torch.randn(2, 3, dtype=torch.float64)
    jac_h, jac_p = step_jacobians(cell, params, h, x)
    assert torch.equal(jac_h, state_jacobian(cell, params, h, x))
    assert torch.equal(jac_p, parameter_jacobian(cell, params, h, x))
    for b in range(2):
        for i in range(cell.state_size):
            live = {k: v.clone().requires_grad_(True) for k, v in params.items()}
            hb = h[b:b + 1].clone().requires_grad_(True)
            out = cell.step(live, hb, x[b:b + 1])[0, i]
            grads = torch.autograd.grad(out, [hb, *live.values()], allow_unused=True)
            assert torch.allclose(jac_h[b, i], grads[0][0], atol=1e-12)
            row = flatten({k: (g if g is not None else torch.zeros_like(v)) for (k, v), g in zip(live.items(), grads[1:])})
            assert torch.allclose(jac_p[b, i], row, atol=1e-12)


def test_flatten_and_unflatten_are_inverse():
    like = {"a": torch.zeros(2, 3), "b": torch.zeros(4)}
    vec = torch.arange(10.0)
    back = unflatten(vec, like)
    assert back["a"].shape == (2, 3) and torch.equal(flatten(back), vec)


def test_rtrl_state_is_n_times_p_floats_per_stream():
    learner = tiny_learner("rtrl", hidden=5)
    state = learner.initial_state(3, "cpu")
    p = sum(v.numel() for v in learner.cell.parameters())
    assert learner.trace_bytes(state) == 3 * 5 * p * 8


@pytest.mark.parametrize("name, options", [("rtrl", {}), ("snap1", {}), ("uoro", {}), ("eprop", {})])
def test_an_unscored_step_adds_no_gradient_computation_and_changes_no_gradient(name, options, monkeypatch):
    """At a step that scores no stream (weight 0 everywhere: the frequency task before an episode's
    last step) q_t = 0: the learners skip the readout's backward and the cell gradient, and the
    accumulated gradient is, to the bit, the one computed with them; RTRL's still equals BPTT's."""
    from nobptt.learners.online import base

    episode = random_episode(7)
    for t, batch in enumerate(episode):  # scored: step 3 (one stream) and the last step
        batch.weight = torch.tensor([0.0, 1.0] if t == 3 else [1.0, 1.0] if t == 6 else [0.0, 0.0],
                                    dtype=torch.float64)
    learner = tiny_learner(name, cell="lstm", **options)
    calls = []
    real = learner.cell_gradient
    monkeypatch.setattr(learner, "cell_gradient", lambda *a: (calls.append(1), real(*a))[1])
    skipping = online_gradient(learner, episode)
    assert len(calls) == 2  # steps 3 and 6 only
    monkeypatch.setattr(base, "scores_any", lambda batch: True)
    every_step = online_gradient(learner, episode)
    assert len(calls) == 2 + 7
    assert all(torch.equal(skipping[n], every_step[n]) for n in skipping)
    if name == "rtrl":
        assert max_abs_difference(skipping, bptt_gradient(learner, episode)) < 1e-12


@pytest.mark.parametrize("target", ["label", "value", "prob"])
def test_the_unscored_logs_are_what_step_loss_gives_at_weight_zero(target):
    from nobptt.learners.online.base import step_loss, unscored_logs
    from nobptt.tasks.base import Batch

    g = torch.Generator().manual_seed(0)
    output = torch.randn(3, 4, generator=g, dtype=torch.float64)
    fields = {"label": {"target_label": torch.tensor([0, 2, 1])},
              "value": {"target_value": torch.randn(3, 4, generator=g, dtype=torch.float64)},
              "prob": {"target_prob": torch.rand(3, 4, generator=g, dtype=torch.float64)}}[target]
    batch = Batch(x=output, label=torch.zeros(3, dtype=torch.long), target_x=output, weight=torch.zeros(3),
                  **{"target_label": torch.zeros(3, dtype=torch.long), **fields})
    loss, logged = step_loss(output, batch)
    assert unscored_logs(batch) == logged and float(loss) == 0.0
