"""The echo state network (nobptt/learners/esn.py) against oracles, in float64 (issue 39):
the rescaled spectral radius, the streamed ridge solution against a batch least-squares solve, the
echo-state property, prequential scoring, exact resume; optionally against reservoirpy."""
import copy
import json

import numpy as np
import pytest
import torch

from nobptt.errors import ConfigError
from nobptt.learners.registry import build_learner, get_learner_spec
from nobptt.tasks.base import Batch
from nobptt.train.config import TrainConfig
from nobptt.train.optim import OptimConfig
from nobptt.train.trainer import Trainer, seed_everything
from toy import CycleStream

D, C, B = 3, 4, 5


@pytest.fixture(autouse=True)
def float64():
    """The reservoir is built in torch's default dtype: float64 here, so the oracles are exact."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def make(seed=0, **options):
    torch.manual_seed(seed)
    return build_learner("esn", {"hidden": 30, **options}, D, C)


def batches(n, seed=0, regression=False, reset_every=0, weights=False):
    """Random float64 batches; streams reset at staggered times; optional per-target weights."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for t in range(n):
        x = torch.rand(B, D, generator=g) * 2 - 1
        label = torch.randint(0, C, (B,), generator=g)
        reset = torch.tensor([reset_every and (t + s) % reset_every == 0 for s in range(B)]) if reset_every else None
        value = torch.randn(B, C, generator=g) if regression else None
        weight = torch.rand(B, generator=g) * (torch.rand(B, generator=g) > 0.2) if weights else None
        out.append(Batch(x, label, x, label, reset=reset, weight=weight, target_value=value))
    return out


@pytest.mark.parametrize("radius,connectivity,hidden", [(0.9, 0.1, 30), (1.25, 0.1, 100), (0.5, 1.0, 7)])
def test_rescaled_spectral_radius_equals_the_configured_one(radius, connectivity, hidden):
    learner = make(spectral_radius=radius, connectivity=connectivity, hidden=hidden)
    measured = np.abs(np.linalg.eigvals(learner.W.numpy())).max()  # numpy's LAPACK, not the learner's code
    assert abs(measured - radius) <= 1e-6 * radius
    nonzero = int((learner.W != 0).sum())
    assert nonzero == max(1, round(connectivity * hidden * hidden))  # the configured sparsity, exactly
    assert int((learner.W_in != 0).sum()) == max(1, round(0.1 * hidden * D))
    assert set(learner.W_in.abs().unique().tolist()) <= {0.0, 1.0}  # +-input_scaling


def test_reservoir_step_is_the_leaky_tanh_update():
    learner = make(leak=0.3, bias_scaling=0.5, input_scaling=2.0)
    h, x = torch.rand(B, 30), torch.rand(B, D)
    W, W_in, b = learner.W, learner.W_in, learner.b
    expected = 0.7 * h + 0.3 * torch.tanh(h @ W.T + x @ W_in.T + b)
    assert torch.allclose(learner.reservoir_step(h, x), expected, atol=1e-15)
    assert set(b.abs().unique().tolist()) == {0.5} and set(W_in.abs().unique().tolist()) == {0.0, 2.0}


def states_and_weights(learner, data):
    """Oracle features: the reservoir run by hand (h' from W, W_in, b), resets and washout applied."""
    c = learner.config
    h, age = torch.zeros(B, c.hidden), torch.zeros(B, dtype=torch.long)
    feats, targets, weights = [], [], []
    for batch in data:
        if batch.reset is not None:
            h = h * (~batch.reset).double().view(-1, 1)
            age = age * (~batch.reset).long()
        h = (1 - c.leak) * h + c.leak * torch.tanh(h @ learner.W.T + batch.x @ learner.W_in.T + learner.b)
        age = age + 1
        w = batch.weight if batch.weight is not None else torch.ones(B)
        feats.append(torch.cat([torch.ones(B, 1), h], 1))
        targets.append(batch.target_value if batch.target_value is not None
                       else torch.nn.functional.one_hot(batch.target_label, C).double())
        weights.append(w * (age > c.washout).double())
    return torch.cat(feats), torch.cat(targets), torch.cat(weights)


@pytest.mark.parametrize("regression", [False, True])
def test_streamed_ridge_solution_equals_the_batch_one(regression):
    learner = make(leak=0.5, washout=4, ridge=1e-3, bias_scaling=0.2)
    data = batches(60, seed=1, regression=regression, reset_every=17, weights=True)
    state = learner.initial_state(B, "cpu")
    for batch in data:
        state, out = learner.learn(state, batch)
        assert out.update is False and not list(learner.parameters())
    learner.solve()
    # batch oracle: the same weighted ridge problem as one augmented least-squares system,
    # min sum w ||y - W f||^2 + ridge ||W[:, 1:]||^2, solved by QR (lstsq), not normal equations
    X, Y, w = states_and_weights(learner, data)
    penalty = (1e-3 ** 0.5) * torch.eye(X.shape[1])[1:]
    A = torch.cat([X * w.sqrt().view(-1, 1), penalty])
    T = torch.cat([Y * w.sqrt().view(-1, 1), torch.zeros(penalty.shape[0], C)])
    batch_solution = torch.linalg.lstsq(A, T, driver="gelsd").solution.T
    assert (w == 0).any() and (w > 0).sum() > 100  # the washout, resets and weights all took part
    assert torch.allclose(learner.W_out, batch_solution, rtol=0, atol=1e-8)


def test_prequential_logits_come_before_the_statistics_absorb_the_step():
    learner = make(washout=2)
    state = learner.initial_state(B, "cpu")
    for t, batch in enumerate(batches(12, seed=2)):
        before = copy.deepcopy(learner)
        _, expected = before.infer(state, batch)  # solved from the statistics of steps < t only
        state, out = learner.learn(state, batch)
        assert torch.equal(out.logits, expected), t
        if t > 3:  # the step just learned changes the prediction of the same state
            assert not torch.equal(learner.infer(copy.deepcopy(state), batch)[1], expected)


@pytest.mark.parametrize("leak", [1.0, 0.3])
def test_two_initial_states_converge_after_the_washout(leak):
    washout = 100 if leak == 1.0 else 400
    learner = make(hidden=100, spectral_radius=0.9, leak=leak, washout=washout)
    g = torch.Generator().manual_seed(3)
    a = learner.initial_state(1, "cpu")
    b = {"h": torch.rand(1, 100, generator=g) * 2 - 1, "age": a["age"].clone()}
    assert (a["h"] - b["h"]).norm() > 1
    for t in range(washout):
        x = torch.rand(1, D, generator=g) * 2 - 1
        batch = Batch(x, torch.zeros(1, dtype=torch.long), x, torch.zeros(1, dtype=torch.long))
        a, _ = learner.infer(a, batch)
        b, _ = learner.infer(b, batch)
    assert (a["h"] - b["h"]).norm() < 1e-6


def test_an_unstable_reservoir_does_not_forget_its_initial_state():
    """The negative control of the echo-state test: spectral radius 3 and a faint input."""
    learner = make(hidden=100, spectral_radius=3.0, input_scaling=0.01)
    g = torch.Generator().manual_seed(3)
    a = learner.initial_state(1, "cpu")
    b = {"h": torch.rand(1, 100, generator=g) * 2 - 1, "age": a["age"].clone()}
    for _ in range(100):
        x = torch.rand(1, D, generator=g) * 2 - 1
        batch = Batch(x, torch.zeros(1, dtype=torch.long), x, torch.zeros(1, dtype=torch.long))
        a, _ = learner.infer(a, batch)
        b, _ = learner.infer(b, batch)
    assert (a["h"] - b["h"]).norm() > 1e-2


def test_resume_mid_stream_gives_identical_outputs():
    data = batches(40, seed=4, reset_every=11)
    a = make(seed=0, washout=3, solve_every=3)
    state = a.initial_state(B, "cpu")
    for batch in data[:17]:
        state, _ = a.learn(state, batch)
    saved_learner, saved_state = copy.deepcopy(a.state_dict()), copy.deepcopy(state)
    b = make(seed=1, washout=3, solve_every=3)  # another reservoir, overwritten by the checkpoint
    assert not torch.equal(a.W, b.W)
    b.load_state_dict(saved_learner)
    state_b = saved_state
    for batch in data[17:]:
        state, out_a = a.learn(state, batch)
        state_b, out_b = b.learn(state_b, batch)
        assert torch.equal(out_a.logits, out_b.logits)
    assert torch.equal(a.W_out, b.W_out) and torch.equal(a.xx, b.xx)


def test_online_readout_writes_the_gradient_of_the_step_loss():
    learner = make(readout="online", washout=1)
    with torch.no_grad():
        learner.linear.weight.normal_()
    data = batches(3, seed=5, regression=True, weights=True)
    state = learner.initial_state(B, "cpu")
    state, _ = learner.learn(state, data[0])
    learner.zero_grad()
    h_before = state["h"]
    state, out = learner.learn(state, data[1])
    assert out.update and [g["name"] for g in learner.param_groups()] == ["classifier"]
    h = learner.reservoir_step(h_before, data[1].x)
    err = (learner.linear(h) - data[1].target_value).detach() * data[1].weight.view(-1, 1)  # age 2 > washout
    assert torch.allclose(learner.linear.weight.grad, err.T @ h / B, atol=1e-12)
    assert torch.allclose(learner.linear.bias.grad, err.sum(0) / B, atol=1e-12)
    assert torch.allclose(out.logits, learner.linear(h).detach())


def make_trainer(tmp_path, steps, **model):
    seed_everything(0)
    stream = CycleStream()
    learner = build_learner("esn", {"hidden": 20, **model}, stream.input_dim, stream.n_classes)
    cfg = TrainConfig(steps=steps, epoch_steps=10, eval_every=30, eval_steps=5, eval_warmup=2,
                      checkpoint_every=20, progress=False)
    optim = OptimConfig(**{**get_learner_spec("esn").optim, "lr": 0.05})
    return Trainer(learner, stream, cfg, tmp_path, make_eval_stream=lambda: CycleStream(seed=99), optim=optim)


@pytest.mark.parametrize("readout", ["ridge", "online"])
def test_trainer_learns_the_cycle_and_resumes_exactly(tmp_path, readout):
    """The ridge readout has no parameters: the trainer's optimizer has an empty group."""
    last = make_trainer(tmp_path / "full", 60, readout=readout).run()
    assert last["heldout_accuracy"] > 0.9 and last["prequential_accuracy"] > 0.9  # chance 0.25
    make_trainer(tmp_path / "half", 30, readout=readout).run()
    resumed = make_trainer(tmp_path / "half", 60, readout=readout)
    resumed.resume()
    resumed.run()

    def rows(path):
        out = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in r.items() if k != "wall_time_s"} for r in out]
    assert rows(tmp_path / "full") == rows(tmp_path / "half")


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="readout="):
        make(readout="rls")
    with pytest.raises(ConfigError, match="leak="):
        make(leak=1.5)
    with pytest.raises(ConfigError, match="connectivity=0.0001 with model.hidden=50"):
        make(hidden=50, connectivity=1e-4)  # one off-diagonal nonzero (for this seed): nilpotent W


def test_matches_reservoirpy_states_and_ridge_readout():
    """Optional cross-check (the `dev` extra): the same W, W_in and b injected into reservoirpy."""
    pytest.importorskip("reservoirpy")
    from reservoirpy.nodes import Reservoir, Ridge
    learner = make(hidden=40, leak=0.3, spectral_radius=1.25, bias_scaling=0.1, washout=10, ridge=1e-5)
    data = batches(80, seed=6, regression=True)
    state = learner.initial_state(B, "cpu")
    ours = []
    for batch in data:
        state, _ = learner.learn(state, batch)
        ours.append(state["h"])
    learner.solve()
    ours = torch.stack(ours, 1).numpy()  # (B, T, hidden)
    W, W_in, b = (t.numpy().copy() for t in (learner.W, learner.W_in, learner.b))
    xs = [np.stack([batch.x[s].numpy() for batch in data]) for s in range(B)]
    ys = [np.stack([batch.target_value[s].numpy() for batch in data]) for s in range(B)]
    theirs = [Reservoir(W=W, Win=W_in, bias=b, lr=0.3).run(x) for x in xs]
    assert np.abs(np.stack(theirs) - ours).max() < 1e-10
    readout = Ridge(1e-5).fit(theirs, ys, warmup=10)  # per-series warmup, like our per-stream washout
    expected = np.concatenate([readout.bias.reshape(1, -1), readout.Wout]).T  # [intercept, W]
    # the weights agree to 1e-8 relative to their size (up to 35 here: random targets, ridge 1e-5),
    # the readouts' outputs on the states to 1e-8 absolute
    assert np.abs(learner.W_out.numpy() - expected).max() < 1e-8 * np.abs(expected).max()
    outputs = [readout.run(states) for states in theirs]
    ours_out = [learner.features(torch.from_numpy(states)).numpy() @ learner.W_out.numpy().T for states in theirs]
    assert np.abs(np.stack(outputs) - np.stack(ours_out)).max() < 1e-8
