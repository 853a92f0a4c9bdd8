"""The BPTT baselines on the online learners' cells (nobptt/learners/online/bptt.py): oracles, the
truncation, per-stream restarts and an exact resume from a checkpoint taken mid-window."""
import io

import pytest
import torch

from nobptt.cells.influence import truncated_sensitivity
from nobptt.cells.registry import cell_names
from nobptt.config import resolve
from nobptt.errors import ConfigError
from nobptt.learners.online.base import step_loss
from nobptt.learners.registry import build_learner
from nobptt.tasks.base import Batch
from nobptt.train.checkpoint import portable
from tests.online_oracle import bptt_gradient, max_abs_difference, online_gradient, random_episode, tiny_learner

T = 9


def truncated_by_hand(learner, batches, k):
    """sum_t dl_t/dtheta with the state detached every k steps from the episode's start: the
    gradient TBPTT(k; k) accumulates, written as plainly as possible (k = 1: detached every step)."""
    learner.zero_grad(set_to_none=True)
    h = learner.initial_state(batches[0].x.shape[0], "cpu")["h"]
    params = learner.cell.params()
    total = 0.0
    for t, batch in enumerate(batches):
        if t % k == 0:
            h = h.detach()
        h = learner.cell.step(params, h, batch.x)
        total = total + step_loss(learner.predict(h), batch)[0]
    grads = torch.autograd.grad(total, list(learner.parameters()))
    return {n: g for (n, _), g in zip(learner.named_parameters(), grads)}


@pytest.mark.parametrize("cell", cell_names())
@pytest.mark.parametrize("update_every", [0, T])
def test_bptt_over_the_update_window_is_the_unrolled_oracle(cell, update_every):
    learner = tiny_learner("bptt", cell=cell, update_every=update_every)
    episode = random_episode(T, regression=cell == "gru")
    exact = bptt_gradient(learner, episode)
    assert max(float(g.abs().max()) for g in exact.values()) > 1e-3
    assert max_abs_difference(online_gradient(learner, episode), exact) < 1e-12


@pytest.mark.parametrize("cell", cell_names())
def test_tbptt_with_k_equal_to_the_episode_is_bptt(cell):
    bptt = tiny_learner("bptt", cell=cell)
    tbptt = tiny_learner("tbptt", cell=cell, k=T)
    episode = random_episode(T)
    assert max_abs_difference(online_gradient(tbptt, episode), online_gradient(bptt, episode)) < 1e-12


@pytest.mark.parametrize("cell", cell_names())
@pytest.mark.parametrize("k", [1, 4])
def test_tbptt_is_the_gradient_with_the_state_detached_every_k_steps(cell, k):
    """k = 1: no gradient crosses a step (the 'TBPTT' that is really TBPTT(1)); k = 4 over 9 steps:
    windows of 4, 4 and 1 steps. Both differ from full BPTT (the truncation is real)."""
    learner = tiny_learner("tbptt", cell=cell, k=k)
    episode = random_episode(T)
    online = online_gradient(learner, episode)
    assert max_abs_difference(online, truncated_by_hand(learner, episode, k)) < 1e-12
    assert max_abs_difference(online, bptt_gradient(learner, episode)) > 1e-6


def test_a_stream_restarted_mid_window_matches_rtrl():
    """One stream starts a new episode inside the window: no gradient crosses its restart. RTRL
    (itself tested against the oracle) handles the same restart by zeroing that stream's influence."""
    bptt, rtrl = tiny_learner("bptt", cell="lstm"), tiny_learner("rtrl", cell="lstm")
    rtrl.load_state_dict(bptt.state_dict())
    episode = random_episode(8)
    episode[3].reset = torch.tensor([True, False])
    expected = online_gradient(rtrl, episode)
    assert max_abs_difference(online_gradient(bptt, episode), expected) < 1e-10
    whole = bptt_gradient(bptt, episode)  # ignores the restart: a different gradient
    assert max_abs_difference(whole, expected) > 1e-6


def _train(learner, optimizer, state, batches):
    logits = []
    for batch in batches:
        state, out = learner.learn(state, batch)
        logits.append(out.logits)
        if out.update:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return state, torch.stack(logits)


def _checkpoint(learner, optimizer, state):
    """What the trainer's checkpoint keeps (transient '_' keys dropped), through torch.save."""
    buffer = io.BytesIO()
    torch.save({"learner": learner.state_dict(), "optimizer": optimizer.state_dict(),
                "state": portable(state)}, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


@pytest.mark.parametrize("name,options", [("bptt", {"update_every": 5}), ("tbptt", {"k": 3, "update_every": 6})])
def test_resume_from_a_checkpoint_mid_window_is_exact(name, options):
    episode = random_episode(14, seed=4)
    learner = tiny_learner(name, cell="gru", **options)
    optimizer = torch.optim.SGD(learner.parameters(), lr=0.1)
    state, _ = _train(learner, optimizer, learner.initial_state(2, "cpu"), episode[:7])
    assert state["window"] and "_h" in state  # mid-window: an open graph
    saved = _checkpoint(learner, optimizer, state)
    _, straight = _train(learner, optimizer, state, episode[7:])

    resumed = tiny_learner(name, cell="gru", seed=9, **options)
    resumed_optimizer = torch.optim.SGD(resumed.parameters(), lr=0.1)
    resumed.load_state_dict(saved["learner"])
    resumed_optimizer.load_state_dict(saved["optimizer"])
    assert "_h" not in saved["state"]
    _, after = _train(resumed, resumed_optimizer, saved["state"], episode[7:])
    assert torch.equal(after, straight)
    for a, b in zip(resumed.parameters(), learner.parameters()):
        assert torch.equal(a, b)


def test_tbptt_refuses_an_update_interval_that_would_shorten_its_truncation():
    with pytest.raises(ConfigError, match=r"model\.update_every=.*multiple of k=10"):
        resolve({"task": {"name": "adding"}, "model": {"name": "tbptt", "update_every": 5}})
    resolve({"task": {"name": "adding"}, "model": {"name": "tbptt", "k": 5, "update_every": 0}})


def test_no_traces_the_window_is_the_memory():
    """BPTT declares and holds no trace (the bench's trace columns are 0); the open window's batches
    and start state are in the state, and are released when the window closes."""
    learner = tiny_learner("tbptt", k=3)
    state = learner.initial_state(2, "cpu")
    assert learner.trace_formula() == 0 and learner.window_bytes(state) == 0
    episode = random_episode(5)
    for batch in episode[:2]:
        state, _ = learner.learn(state, batch)
    assert state["traces"] == {} and learner.trace_bytes(state) == 0
    assert len(state["window"]) == 2
    # the start state (2 streams x 4 units) and per batch x and target_x (2 x 3), label and target_label (2)
    assert learner.window_bytes(state) == 8 * (2 * 4 + 2 * (2 * 2 * 3 + 2 * 2))
    state, _ = learner.learn(state, episode[2])
    assert not state["window"] and learner.window_bytes(state) == 0


# -- influence balancing (UORO paper §5): truncated BPTT's gradient has the wrong sign up to K = 40

def _influence_tbptt(k: int):
    torch.manual_seed(0)
    learner = build_learner("tbptt", {"cell": "influence", "hidden": 23, "readout": "none", "k": k,
                                      "update_every": k}, 1, 1).double()
    cell = learner.cell
    theta = float(cell.theta.detach())
    # the steady state under x = 1: s = A s + theta v, i.e. (I - A) s = theta v
    steady = torch.linalg.solve(torch.eye(23, dtype=torch.float64) - cell.A.double(), theta * cell.signs.double())
    state = learner.initial_state(1, "cpu")
    state = {**state, "h": steady.unsqueeze(0), "start": steady.unsqueeze(0)}
    return learner, state, steady


def _window(k: int, last_only: bool):
    ones = torch.ones(1, 1, dtype=torch.float64)
    zero = torch.zeros(1, dtype=torch.long)
    return [Batch(x=ones, label=zero, target_x=ones, target_label=zero, target_value=ones,
                  weight=torch.tensor([1.0 if (t == k - 1 or not last_only) else 0.0], dtype=torch.float64))
            for t in range(k)]


# (K, the reference notes' d s_0/d theta, half a unit of its last printed digit)
@pytest.mark.parametrize("k,reference,rounding", [(1, 1.0, 1e-12), (10, 10.0, 1e-12), (20, 16.5, 0.05),
                                                  (40, 0.57, 0.005), (41, -0.22, 0.005)])
def test_tbptt_truncated_sensitivity_on_influence_balancing(k, reference, rounding):
    """From the steady state (s_0 = -6 theta = -3 at theta = 0.5), the gradient of the loss at the end
    of one K-window is (s_0 - 1) d s_0/d theta truncated to K steps: the reference gives d s_0/d theta
    = +1, +10, +16.5, +0.57 (K = 1, 10, 20, 40) and -0.22 (K = 41), so TBPTT's gradient points away
    from theta* = -1/6 (here: it is negative, theta grows) for every K <= 40 and turns at K = 41."""
    learner, state, steady = _influence_tbptt(k)
    assert abs(float(steady[0]) + 3.0) < 1e-12
    for batch in _window(k, last_only=True):
        state, out = learner.learn(state, batch)
    assert out.update and not state["window"]  # exactly one window, back-propagated
    gradient = float(learner.cell.theta.grad)
    sensitivity = gradient / (float(steady[0]) - 1.0)
    assert sensitivity == pytest.approx(truncated_sensitivity(23, k), abs=1e-10)
    assert sensitivity == pytest.approx(reference, abs=rounding)
    assert (gradient < 0) == (k <= 40)


def test_tbptt_10_moves_theta_away_from_the_optimum():
    """The integration version: SGD on TBPTT(10; 10) from the steady state drives theta up, away
    from theta* = -1/6 (where RTRL goes; docs/online.md#influence-balancing)."""
    learner, state, _ = _influence_tbptt(10)
    optimizer = torch.optim.SGD(learner.parameters(), lr=1e-4)
    start = float(learner.cell.theta.detach())
    for batch in _window(10, last_only=False) * 20:
        state, out = learner.learn(state, batch)
        if out.update:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    assert float(learner.cell.theta.detach()) > start + 0.01


@pytest.mark.parametrize("cell", cell_names())
@pytest.mark.parametrize("name, options", [("bptt", {}), ("tbptt", {"k": 4})])
def test_unscored_steps_stay_out_of_the_graph_and_the_gradient_is_unchanged(cell, name, options, monkeypatch):
    """A step that scores no stream (weight 0 everywhere, e.g. the frequency task before its last
    step) and does not close the window adds no loss to the graph; the gradient equals, to the bit,
    the one with every step's (zero) loss back-propagated, and a window with no scored step still
    sends its (zero) gradient to every parameter."""
    from nobptt.learners.online import bptt as module

    episode = random_episode(T, regression=cell == "gru")
    for t, batch in enumerate(episode):  # scored: step 2 (one stream) and the last step
        batch.weight = torch.tensor([1.0, 0.0] if t == 2 else [1.0, 1.0] if t == T - 1 else [0.0, 0.0],
                                    dtype=torch.float64)
    learner = tiny_learner(name, cell=cell, **options)
    graded = []
    real_loss = module.step_loss
    monkeypatch.setattr(module, "step_loss", lambda out, b: (graded.append(torch.is_grad_enabled()), real_loss(out, b))[1])
    skipping = online_gradient(learner, episode)
    k = options.get("k", T)
    closing = {t for t in range(T) if (t + 1) % k == 0 or t == T - 1}
    assert graded == [True] * len(closing | {2, T - 1})  # the losses of the other steps were not computed
    monkeypatch.setattr(module.base, "scores_any", lambda batch: True)
    every_step = online_gradient(learner, episode)  # every loss in the graph, as before the change
    assert all(torch.equal(skipping[n], every_step[n]) for n in skipping)
    if name == "bptt":  # and the unrolled oracle's, every weighted loss in one graph
        assert max_abs_difference(skipping, bptt_gradient(learner, episode)) < 1e-12
