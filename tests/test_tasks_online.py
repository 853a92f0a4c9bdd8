"""Issue 39's tasks: influence balancing (and its cell), the Add task, Mackey-Glass and NARMA10:
their documented statistics, determinism, resuming, splits, and a short run of each."""
import json
import math

import pytest
import torch

from nobptt.cells.influence import InfluenceCell, optimal_theta, plus_units, truncated_sensitivity
from nobptt.cli import main
from nobptt.errors import ConfigError, DataError
from nobptt.progress import format_ceilings, format_row
from nobptt.tasks import mackey_glass as mg
from nobptt.tasks.add import AddConfig, AddStream, add_stream, label_probability, plateaus
from nobptt.tasks.influence import InfluenceStream
from nobptt.tasks.narma import NARMA10Config, narma10, narma10_stream, series_pairs
from nobptt.tasks.registry import get_task_spec

NEW_TASKS = ("influence", "add", "mackey_glass", "narma10")


# -- influence balancing ------------------------------------------------------------------
def _run(cell: InfluenceCell, theta: torch.Tensor, h: torch.Tensor, steps: int) -> torch.Tensor:
    one = torch.ones(h.shape[0], 1, dtype=h.dtype)
    for _ in range(steps):
        h = cell.step({"theta": theta}, h, one)
    return h


def test_influence_cell_layout_and_steady_state():
    """UORO paper's task: A = 0.5 I + 0.5 superdiagonal (a buffer), theta the only parameter,
    +theta on 10 of 23 units, state initialised to 1; the steady state is s_0 = -6 theta."""
    cell = InfluenceCell(1, 23).double()
    assert [name for name, _ in cell.named_parameters()] == ["theta"] and float(cell.theta.detach()) == 0.5
    assert cell.n_plus == 10 and torch.equal(cell.signs[:10], torch.ones(10)) and (cell.signs[10:] == -1).all()
    assert torch.equal(cell.A, 0.5 * torch.eye(23, dtype=torch.float64) + 0.5 * torch.diag(torch.ones(22), 1))
    h0 = cell.initial_state(2, "cpu", torch.float64)
    assert torch.equal(h0, torch.ones(2, 23, dtype=torch.float64))
    for theta in (0.5, -0.3):
        s = _run(cell, torch.tensor(theta, dtype=torch.float64), h0, 400)
        assert float(cell.output(s)[0, 0]) == pytest.approx(-6 * theta, abs=1e-9)
    assert optimal_theta(23) == pytest.approx(-1 / 6)
    at_optimum = _run(cell, torch.tensor(optimal_theta(23), dtype=torch.float64), h0, 400)
    assert float(at_optimum[0, 0]) == pytest.approx(1.0, abs=1e-9)


# K -> d s_0 / d theta through the last K steps (reference notes: +1, +10, +16.5, +0.57, -0.22, -> -6)
SENSITIVITIES = {1: 1.0, 10: 10.0, 20: 16.476, 40: 0.5655, 41: -0.219, 400: -6.0}


@pytest.mark.parametrize("k", sorted(SENSITIVITIES))
def test_influence_truncated_sensitivity_through_the_cell_with_autograd(k):
    """The fixture the integration test relies on: a gradient truncated to K <= 40 steps has the
    wrong sign (it pushes theta up while theta* = -1/6 is below), the sign turns at K = 41."""
    cell = InfluenceCell(1, 23).double()
    theta = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    start = torch.randn(1, 23, dtype=torch.float64)  # the state K steps back, held fixed: any value
    s0 = _run(cell, theta, start, k)[0, 0]
    (grad,) = torch.autograd.grad(s0, theta)
    assert float(grad) == pytest.approx(SENSITIVITIES[k], abs=1e-3)
    assert float(grad) == pytest.approx(truncated_sensitivity(23, k), abs=1e-9)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 12, 23, 46, 64])
def test_influence_plus_units_scale_so_that_an_optimum_exists(n):
    """n_plus = floor(10 n / 23) < n / 2: the minus units outnumber the plus units at every size."""
    assert plus_units(n) < n / 2 and optimal_theta(n) < 0
    cell = InfluenceCell(1, n).double()
    s = _run(cell, torch.tensor(optimal_theta(n), dtype=torch.float64), cell.initial_state(1, "cpu", torch.float64),
             20 * n + 100)
    assert float(s[0, 0]) == pytest.approx(1.0, abs=1e-8)


def test_influence_cell_is_driven_by_the_mean_input():
    """One input (the task's): theta x v; several (any other task): theta mean(x) v."""
    cell = InfluenceCell(3, 5)
    h = torch.zeros(2, 5)
    x = torch.tensor([[1.0, 2.0, 6.0], [0.0, 0.0, 0.0]])
    assert torch.allclose(cell.step({"theta": torch.tensor(2.0)}, h, x), torch.outer(torch.tensor([6.0, 0.0]), cell.signs))


def test_influence_cell_under_rtrl_equals_bptt():
    """The cell keeps the cell protocol (pure step, scalar parameter): RTRL's gradient is BPTT's."""
    from tests.online_oracle import bptt_gradient, max_abs_difference, online_gradient, tiny_learner
    learner = tiny_learner("rtrl", input_dim=1, n_classes=1, cell="influence", hidden=23, readout="none")
    stream = InfluenceStream(batch_size=1)
    episode = [stream.next_batch() for _ in range(12)]
    for batch in episode:
        batch.x, batch.target_value = batch.x.double(), batch.target_value.double()
    exact = bptt_gradient(learner, episode)
    assert abs(float(exact["cell.theta"])) > 1e-3
    assert max_abs_difference(online_gradient(learner, episode), exact) < 1e-10


def test_influence_heldout_scores_the_steady_state():
    """After the unscored warm-up the held-out MSE is (s_0 - 1)^2 at the steady state: 0 at theta*,
    (-6 theta - 1)^2 elsewhere."""
    from nobptt.learners.registry import build_learner
    from nobptt.tasks.influence import InfluenceConfig, influence_stream
    from nobptt.train.evaluation import evaluate
    learner = build_learner("rtrl", {"cell": "influence", "hidden": 23, "readout": "none"}, 1, 1).double()
    for theta, expected in ((optimal_theta(23), 0.0), (0.5, 16.0)):
        with torch.no_grad():
            learner.cell.theta.fill_(theta)
        stream = influence_stream(InfluenceConfig(), "heldout", 0, "cpu")
        assert evaluate(learner, stream, 0, 0, "cpu")["heldout_mse"] == pytest.approx(expected, abs=1e-9)


def test_influence_stream_is_constant_and_resets_only_at_its_start():
    stream = get_task_spec("influence").factory(get_task_spec("influence").config_cls(), "train", 0, "cpu")
    batches = [stream.next_batch() for _ in range(5)]
    assert all(torch.equal(b.x, torch.ones(1, 1)) and torch.equal(b.target_value, torch.ones(1, 1)) for b in batches)
    assert [bool(b.reset[0]) for b in batches] == [True, False, False, False, False]
    assert stream.ceilings() == {} and stream.length is None
    heldout = InfluenceStream(1, 5, warmup=2)
    assert [float(heldout.next_batch().weight[0]) for _ in range(5)] == [0.0, 0.0, 1.0, 1.0, 1.0]
    with pytest.raises(StopIteration):
        heldout.next_batch()


# -- the Add task -------------------------------------------------------------------------------
def test_add_plateaus_are_computed_from_the_formula():
    """Reference notes §2.2 item 7: no memory 0.6616, first lag 0.5192, both lags 0.4545 nats."""
    levels = plateaus()
    assert levels["chance_nll"] == pytest.approx(0.6616, abs=1e-4)
    assert levels["first_lag_nll"] == pytest.approx(0.5192, abs=1e-4)
    assert levels["both_lags_nll"] == pytest.approx(0.4545, abs=1e-4)
    assert levels["bayes"] == pytest.approx(0.75)
    assert AddStream(3, 8, 2, 0).ceilings() == levels


@pytest.mark.parametrize("t1,t2", [(3, 8), (2, 5)])
def test_add_labels_follow_the_formula_empirically(t1, t2):
    """Conditional frequencies of y_t given (x_{t-t1}, x_{t-t2}, x_t) match P(y_t = 1) within 4
    standard errors: the lags are the right ones and x_t itself does not matter."""
    stream = AddStream(t1, t2, 64, seed=5, encoding="scalar")
    xs, ys = [], []
    for _ in range(1500):
        batch = stream.next_batch()
        xs.append(batch.label)
        ys.append(batch.target_label)
    x, y = torch.stack(xs, 1)[:, t2:], torch.stack(ys, 1)[:, t2:]  # from step t2 the lags are in view
    now, first, second, y = x[:, t2:], x[:, t2 - t1:-t1], x[:, :-t2], y[:, t2:]
    assert abs(float(x.float().mean()) - 0.5) < 0.01
    for a in (0, 1):
        for b in (0, 1):
            for c in (0, 1):
                mask = (first == a) & (second == b) & (now == c)
                p, count = label_probability(a, b), int(mask.sum())
                frequency = float(y[mask].float().mean())
                assert abs(frequency - p) <= 4 * math.sqrt(max(p * (1 - p), 1e-4) / count) + 1e-9, (a, b, c)


def test_add_encodings_determinism_and_heldout_layout():
    onehot, scalar = AddStream(3, 8, 4, 1), AddStream(3, 8, 4, 1, encoding="scalar")
    a, b = onehot.next_batch(), scalar.next_batch()
    assert a.x.shape == (4, 2) and b.x.shape == (4, 1) and onehot.input_dim == 2 and scalar.input_dim == 1
    assert torch.equal(a.x.argmax(-1), b.x[:, 0].long()) and torch.equal(a.target_label, b.target_label)
    assert a.reset.all() and not onehot.next_batch().reset.any() and a.weight is None
    config = AddConfig(eval_length=20, eval_batch_size=3)
    heldout, test = add_stream(config, "heldout", 0, "cpu"), add_stream(config, "test", 0, "cpu")
    hb = [heldout.next_batch() for _ in range(20)]
    assert [float(b.weight[0]) for b in hb] == [0.0] * 8 + [1.0] * 12
    assert not all(torch.equal(x.x, test.next_batch().x) for x in hb)
    with pytest.raises(StopIteration):
        heldout.next_batch()
    with pytest.raises(ConfigError, match="t1"):
        AddConfig(t1=8, t2=3)


# -- Mackey-Glass ----------------------------------------------------------------------------
def test_mackey_glass_stays_in_its_range_and_is_deterministic_per_seed():
    inputs, targets = mg.series_pairs(mg.MackeyGlassConfig())
    assert inputs.shape == targets.shape == (2000, 1)
    assert 0.2 < float(inputs.min()) and float(inputs.max()) < 1.45  # the tau = 17 attractor's range
    assert float(inputs.std()) > 0.15  # it oscillates, not a fixed point
    assert torch.equal(targets[:-1], inputs[1:])  # the target is the next value
    again, _ = mg.series_pairs(mg.MackeyGlassConfig())
    other, _ = mg.series_pairs(mg.MackeyGlassConfig(series_seed=1))
    assert torch.equal(inputs, again) and not torch.allclose(inputs, other, atol=1e-3)


def test_mackey_glass_solves_the_delay_equation():
    """Residual check: on the integration grid (after the rough random history has left the delay
    window) the central difference matches the right-hand side of the DDE to O(h^2)."""
    h = 0.1
    values, d = mg.integrate(20000, h=h, seed=3)
    k = torch.arange(4 * d, len(values) - 1)
    slope = (values[k + 1] - values[k - 1]) / (2 * h)
    rhs = 0.2 * values[k - d] / (1 + values[k - d] ** 10) - 0.1 * values[k]
    assert float(rhs.abs().max()) > 0.05  # a moving series, so the check has teeth
    assert float((slope - rhs).abs().max()) < 1e-4
    # the sampled series is the grid's every 10th value (one time unit)
    assert torch.equal(mg.mackey_glass(50, h=h, seed=3), values[d::10][:50])


def test_mackey_glass_integrator_converges_at_second_order():
    """Halving h from the same (constant) history: the sampled values' change shrinks ~4x."""
    def sampled(h):
        values, d = mg.integrate(round(200 / h), h=h, noise=0.0)
        return values[d::round(1 / h)][:200]
    coarse, fine, finer = sampled(0.1), sampled(0.05), sampled(0.025)
    ratio = float((coarse - fine).abs().max() / (fine - finer).abs().max())
    assert 3.0 < ratio < 5.0


def test_mackey_glass_segments_warmup_and_normalisation():
    config = mg.MackeyGlassConfig(train_length=300, heldout_length=100, test_length=80, eval_warmup=20,
                                  batch_size=2, discard=100)
    inputs, targets = mg.series_pairs(config)
    train = mg.mackey_glass_stream(config, "train", 0, "cpu")
    first = [train.next_batch() for _ in range(151)]
    assert first[0].reset.all() and first[150].reset.all() and not first[1].reset.any()  # chunks of 150
    assert torch.equal(first[1].x[:, 0], inputs[[1, 151], 0].float())
    heldout = mg.mackey_glass_stream(config, "heldout", 0, "cpu")
    hb = [heldout.next_batch() for _ in range(heldout.length)]
    assert heldout.length == 120 and [float(b.weight[0]) for b in hb].count(0.0) == 20
    assert torch.equal(torch.cat([b.target_value for b in hb[20:]]), targets[300:400].float())
    test = mg.mackey_glass_stream(config, "test", 0, "cpu")
    tb = [test.next_batch() for _ in range(test.length)]
    assert torch.equal(torch.cat([b.target_value for b in tb[20:]]), targets[400:480].float())
    ceilings = test.ceilings()
    assert ceilings["target_std"] == pytest.approx(float(targets[400:480].std(unbiased=False)), rel=1e-5)
    assert ceilings["persistence_mse"] < ceilings["chance_mse"]
    scaled, _ = mg.series_pairs(mg.MackeyGlassConfig(normalise="minmax", train_length=300))
    assert float(scaled[:300].min()) == pytest.approx(-1.0) and float(scaled[:300].max()) <= 1.0
    with pytest.raises(ConfigError, match="whole number"):
        mg.MackeyGlassConfig(h=0.3)
    with pytest.raises(ConfigError, match="eval_warmup"):
        mg.mackey_glass_stream(mg.MackeyGlassConfig(eval_warmup=5000), "heldout", 0, "cpu")


# -- NARMA10 -------------------------------------------------------------------------------
def _narma_residual(u: torch.Tensor, y_next: torch.Tensor, shift: int = 0) -> torch.Tensor:
    """The published recurrence on pairs (u(t), y(t+1)): y(t) = y_next[t-1]. ``shift`` = 1 evaluates
    reservoirpy's indexing instead (the sum and u's lag one step further back)."""
    t = torch.arange(11, len(u))
    y = lambda s: y_next[s - 1]  # noqa: E731  y(s) from the pair of step s-1
    window = sum(y(t - i - shift) for i in range(10))
    predicted = 0.3 * y(t) + 0.05 * y(t) * window + 1.5 * u[t - 9 - shift] * u[t] + 0.1
    return (y_next[t] - predicted).abs()


def test_narma10_satisfies_the_published_recurrence_exactly():
    inputs, targets = series_pairs(NARMA10Config(discard=50, train_length=600, heldout_length=100, test_length=100))
    u, y_next = inputs[:, 0], targets[:, 0]
    assert float(_narma_residual(u, y_next).max()) < 1e-12
    assert float(_narma_residual(u, y_next, shift=1).max()) > 1e-3  # reservoirpy's indexing is another system
    assert 0 <= float(u.min()) and float(u.max()) <= 0.5
    assert 0.1 < float(y_next.min()) and float(y_next.max()) < 1.5
    stream = narma10_stream(NARMA10Config(), "train", 7, "cpu")  # the run seed does not change the data
    batch = stream.next_batch()
    full_u, full_y = series_pairs(NARMA10Config())
    assert torch.equal(batch.x[0], full_u[0].float()) and torch.equal(batch.target_value[0], full_y[0].float())
    assert stream.ceilings()["target_std"] == pytest.approx(float(full_y[:2000].std(unbiased=False)), rel=1e-5)


def test_narma10_refuses_a_diverging_series():
    """About 4% of seeds blow up within 4,200 steps (seed 6 at step 1,860): a DataError, not NaNs."""
    with pytest.raises(DataError, match="series_seed=6"):
        narma10(4201, 6)


# -- every new task: resume, registry, the progress line and a short CLI run ----------------------
def _small(task):
    return {"influence": {"eval_length": 30, "eval_warmup": 10}, "add": {"eval_length": 40, "eval_batch_size": 4, "batch_size": 4},
            "mackey_glass": {"train_length": 200, "heldout_length": 60, "test_length": 60, "eval_warmup": 20},
            "narma10": {"train_length": 200, "heldout_length": 60, "test_length": 60, "eval_warmup": 20}}[task]


@pytest.mark.parametrize("task", NEW_TASKS)
@pytest.mark.parametrize("split", ["train", "heldout", "test"])
def test_new_task_streams_resume_identically(task, split):
    spec = get_task_spec(task)
    config = spec.config_cls(**_small(task))
    a = spec.factory(config, split, 3, "cpu")
    [a.next_batch() for _ in range(7)]
    saved = a.state_dict()
    after = [a.next_batch() for _ in range(9)]
    b = spec.factory(config, split, 99, "cpu")
    b.load_state_dict(saved)
    for x, y in zip(after, [b.next_batch() for _ in range(9)]):
        assert torch.equal(x.x, y.x) and torch.equal(x.target_label, y.target_label)
        assert (x.target_value is None) == (y.target_value is None)
        assert x.target_value is None or torch.equal(x.target_value, y.target_value)
    if split != "train":
        assert a.length is not None and a.length > 0


def test_progress_prints_nrmse_and_the_add_plateaus():
    line = format_row({"step": 10, "heldout_mse": 0.0004}, {"chance_mse": 0.05, "target_std": 0.2}, "narma10")
    assert "RMSE 0.02, NRMSE 0.1" in line and "target std 0.2" in line
    assert "NRMSE" not in format_row({"step": 1, "heldout_mse": 0.1}, {"chance_mse": 1 / 6}, "adding")
    text = format_ceilings(plateaus())
    assert "first lag 0.5192 nats" in text and "both lags 0.4545 nats" in text and "cross-entropy 0.662" in text


@pytest.mark.parametrize("task", NEW_TASKS)
def test_new_tasks_train_with_the_lstm_baseline(tmp_path, task):
    """`nobptt train` of the existing lstm learner on each new task: 50 steps, one evaluation."""
    fields = "".join(f"{k} = {v}\n" for k, v in _small(task).items())
    toml = tmp_path / f"{task}.toml"
    toml.write_text(f'[task]\nname = "{task}"\n{fields}[model]\nname = "lstm"\nhidden = 8\nclassifier_hidden = 8\n'
                    "k1 = 5\nk2 = 5\n[train]\neval_every = 50\neval_steps = 10\nprogress = false\n")
    run = tmp_path / "run"
    assert main(["train", str(toml), "--steps", "50", "--run-dir", str(run)]) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    heldout = [r for r in rows if any(k.startswith("heldout_") for k in r)]
    assert heldout and all(math.isfinite(v) for r in heldout for k, v in r.items() if k.startswith("heldout_"))
