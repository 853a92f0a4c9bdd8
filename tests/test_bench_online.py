"""The online learners in `nobptt bench` (docs/bench.md#the-online-learners): their traces as held
equal the formula each declares, their training memory is flat in T, and RTRL's counted FLOPs per
step are the documented n^2 p + ... (tiny sizes; no timing is asserted)."""
import json

import pytest
import torch

from nobptt.bench.memory import measure, trace_figures
from nobptt.bench.meters import SavedTensorMeter
from nobptt.bench.variants import INPUT_DIM, resolve, sizes
from nobptt.cells.jacobians import step_jacobians
from nobptt.cells.registry import cell_names
from nobptt.learners.online.base import OnlineLearner
from nobptt.learners.registry import build_learner, learner_specs
from nobptt.tasks.base import Batch

ONLINE = sorted(name for name, spec in learner_specs().items()
                if isinstance(spec.factory, type) and issubclass(spec.factory, OnlineLearner))


def _steps(learner, batch_size: int, steps: int, input_dim: int, n_classes: int = 2):
    """``steps`` training steps on random input; a stream restarted midway (fresh traces); the state."""
    g = torch.Generator().manual_seed(0)
    state = learner.initial_state(batch_size, "cpu")
    for t in range(steps):
        x = torch.randn(batch_size, input_dim, generator=g)
        label = torch.randint(0, n_classes, (batch_size,), generator=g)
        reset = torch.tensor([t == 1] + [False] * (batch_size - 1))
        state, _ = learner.learn(state, Batch(x, label, x, label, reset=reset))
    return state


def _n_and_p(learner) -> tuple[int, int]:
    return learner.cell.state_size, sum(p.numel() for p in learner.cell.parameters())


@pytest.mark.parametrize("cell", cell_names())
def test_rtrl_traces_hold_n_times_p_floats_per_stream_for_every_cell_and_size(cell):
    for hidden, batch_size in ((2, 1), (3, 2), (5, 3)):
        torch.manual_seed(0)
        # one input: every cell takes it (the influence balancing cell takes nothing else)
        learner = build_learner("rtrl", {"cell": cell, "hidden": hidden}, 1, 2)
        state = _steps(learner, batch_size, 3, 1)
        n, p = _n_and_p(learner)
        assert learner.trace_formula() == n * p
        figures = trace_figures(learner, state, batch_size)
        assert figures == {"trace_bytes": batch_size * n * p * 4, "trace_formula_bytes": batch_size * n * p * 4}
        assert learner.trace_bytes(state) == figures["trace_bytes"]  # no storage beyond the traces


@pytest.mark.parametrize("name", ONLINE)
def test_every_registered_online_learner_declares_its_trace_formula_and_holds_it(name):
    """A learner subclassing OnlineLearner says how many trace entries per stream its method needs
    (OnlineLearner.trace_formula; docs/bench.md#the-online-learners), and carries exactly that."""
    # a narrow input, and the benchmarks' own 784-d one (where a cell's pre-activations are large)
    for hidden, batch_size, input_dim in ((3, 2, 3), (4, 1, INPUT_DIM)):
        torch.manual_seed(0)
        learner = build_learner(name, {"hidden": hidden}, input_dim, 2)
        declared = learner.trace_formula()
        assert declared is not None, (
            f"learner {name!r} ({type(learner).__name__}) declares no trace_formula(): return the trace "
            "entries per stream its method needs, in terms of n = cell.state_size and p = the cell's parameters")
        state = _steps(learner, batch_size, 3, input_dim)
        itemsize = torch.empty((), dtype=learner._dtype).element_size()
        figures = trace_figures(learner, state, batch_size)
        assert figures["trace_bytes"] == figures["trace_formula_bytes"] == batch_size * declared * itemsize, name


def test_other_learners_have_no_trace_columns():
    learner = build_learner("lstm", {"hidden": 3}, 3, 2)
    assert trace_figures(learner, learner.initial_state(2, "cpu"), 2) == {}


def test_the_meter_steps_aside_for_torch_func_and_counts_around_it():
    learner = build_learner("rtrl", {"hidden": 3}, 4, 2)
    params, h, x = learner.cell_params(), torch.zeros(2, 3), torch.randn(2, 4)
    w = torch.randn(50, requires_grad=True)
    with SavedTensorMeter() as meter:
        with pytest.raises(RuntimeError, match="saved tensor hooks"):
            step_jacobians(learner.cell, params, h, x)  # why the bench pauses it
        jac_h, _ = meter.paused(step_jacobians)(learner.cell, params, h, x)
        y = torch.tanh(w)  # the hooks are back: tanh's saved output is counted
        assert meter.peak == 200 and jac_h.shape == (2, 3, 3)
    y.sum().backward()


def test_memory_rows_of_rtrl_are_flat_in_T_and_carry_its_traces():
    rows = [measure("rtrl", T, 2, hidden=3) for T in (3, 12)]
    n, p = 3, 3 * 3 + 3 * INPUT_DIM + 3
    for row in rows:
        assert json.loads(row["options"]) == {"hidden": 3}
        assert row["trace_bytes"] == row["trace_formula_bytes"] == 2 * n * p * 4
        assert row["persistent_bytes"] > row["trace_bytes"]  # + parameters, Adam's moments, h
    # what autograd holds: the readout's step graph only, whatever T
    assert rows[0]["saved_bytes"] == rows[1]["saved_bytes"] > 0
    assert rows[0]["persistent_bytes"] == rows[1]["persistent_bytes"]


def test_hidden_sizes_apply_to_the_learners_that_have_one():
    assert sizes("rtrl", [None], [16, 32]) == [(None, 16), (None, 32)]
    assert sizes("brsm", [None], [16, 32]) == [(None, None)]  # no hidden size: its own config, once
    assert sizes("rtrl", [0.5], [None]) == [(0.5, None)]
    assert resolve("rtrl", 100, None, 16) == ("rtrl", {"hidden": 16})
    assert resolve("lstm_tbptt10", 100, None, 8) == ("lstm", {"hidden": 8, "k1": 10, "k2": 10})


def test_a_learner_that_updates_at_episode_ends_gets_one_update_per_benchmarked_sequence(monkeypatch):
    """The random input never ends an episode: update_every = 0 (bptt's default) becomes T."""
    from dataclasses import dataclass

    from nobptt.learners import registry
    from nobptt.learners.online.base import OnlineConfig

    @dataclass
    class Episodic(OnlineConfig):
        update_every: int = 0

    monkeypatch.setitem(registry._REGISTRY, "episodic_rtrl",
                        registry.LearnerSpec("episodic_rtrl", registry.get_learner_spec("rtrl").factory, Episodic, "test"))
    assert resolve("episodic_rtrl", 7, None, 3) == ("episodic_rtrl", {"hidden": 3, "update_every": 7})
    assert measure("episodic_rtrl", 4, 1, hidden=2)["options"] == json.dumps({"hidden": 2, "update_every": 4})


def test_rtrl_counted_flops_per_step_are_the_documented_formula():
    """docs/bench.md#the-online-learners: per stream and step, RTRL's counted multiply-adds are
    n^2 p (J_t M_{t-1}) + n p (q_t M_t) + the Jacobians (one vector-Jacobian product per state unit:
    at most n p + n^3 + a step), besides the forward step and the readout."""
    from nobptt.bench.speed import measure_speed

    B, n, C = 3, 4, 10
    p = n * n + n * INPUT_DIM + n
    row = measure_speed("rtrl", B, steps=2, hidden=n)
    step = 2 * B * (n * n + n * INPUT_DIM) + 2 * B * n * C  # the cell's products and the readout
    assert row["infer_flops_per_step"] == step
    lower = step + 2 * B * (n * n * p + n * p)
    upper = lower + 2 * B * (n * p + n ** 3 + n * n + n * INPUT_DIM) + 2 * 2 * B * n * C  # + readout backward
    assert lower < row["train_flops_per_step"] <= upper
    assert row["train_steps_per_s"] > 0


def test_bench_cli_hidden_sizes_trace_columns_and_failed_rows(tmp_path):
    from nobptt.cli import main
    from nobptt.records.io import load_bench_csv

    out = tmp_path / "mem.csv"
    # lstm_bptt at T = 0 fails (a BPTT window of 0 steps): its row keeps the hidden size asked for
    assert main(["bench", "memory", "--learners", "rtrl,lstm_bptt", "--hidden", "3", "--lengths", "0",
                 "--batch", "2", "--out", str(out), "--allow-dirty"]) == 1
    rtrl, lstm = load_bench_csv(out)
    assert rtrl["learner"] == "rtrl" and json.loads(rtrl["options"]) == {"hidden": 3} and not rtrl["error"]
    assert int(rtrl["trace_bytes"]) == int(rtrl["trace_formula_bytes"]) == 2 * 3 * (9 + 3 * INPUT_DIM + 3) * 4
    assert lstm["learner"] == "lstm_bptt" and json.loads(lstm["options"]) == {"hidden": 3} and lstm["error"]
    assert lstm["trace_bytes"] == ""
    assert main(["bench", "memory", "--hidden", "3", "--scales", "1"]) == 2  # two ways to set the size
    assert main(["bench", "speed", "--hidden", "sixteen"]) == 2
    assert main(["bench", "speed", "--hidden", "0"]) == 2


def test_bench_speed_times_an_experiments_own_task_and_variants(tmp_path, capsys):
    """`bench speed --experiment`: one row per variant on the experiment's task, its FLOPs counted
    on that task's shapes; a bad variant is refused before any row is measured."""
    from nobptt.bench.speed import measure_experiment_speed
    from nobptt.cli import main

    rtrl = measure_experiment_speed("rtrl", "copying_online", ["model.update_every=0", "task.batch_size=2"], steps=16)
    tbptt = measure_experiment_speed("tbptt5", "copying_online", ["model.name=tbptt", "model.k=5",
                                                                  "model.update_every=5", "task.batch_size=2"], steps=16)
    assert rtrl["task"] == tbptt["task"] == "copying" and rtrl["batch_size"] == 2
    assert json.loads(rtrl["options"])["overrides"][0] == "model.update_every=0"
    # RTRL's influence-matrix product alone, 2 n^2 p per stream and step, outweighs BPTT's whole step
    n, p = 32, 32 * 32 + 32 * 10 + 32
    assert rtrl["train_flops_per_step"] >= 2 * 2 * n * n * p > 10 * tbptt["train_flops_per_step"]
    # training memory: RTRL carries an n x p influence matrix per stream (float32), truncated BPTT none
    assert rtrl["persistent_bytes"] >= 2 * n * p * 4 > tbptt["persistent_bytes"]
    assert rtrl["peak_rss_above_idle_bytes"] >= 0
    out = tmp_path / "speed.csv"
    assert main(["bench", "speed", "--experiment", "copying_online", "--variant", "ok=model.update_every=0",
                 "--variant", "bad=model.bogus=1", "--out", str(out), "--allow-dirty"]) == 2
    assert "model.bogus" in capsys.readouterr().err and not out.exists()
    assert main(["bench", "speed", "--experiment", "copying_online", "--experiment", "add_online", "--variant",
                 "ok=model.update_every=0", "--out", str(out), "--allow-dirty"]) == 2
    assert "give one --experiment with --variant" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("cell", ["lstm", "plstm", "rhn:1", "rhn:5", "hyperlstm", "hrhn:3"])
def test_counted_flops_of_a_cell_step_are_its_products(cell):
    """The FLOPs `bench speed` counts for one inference step of each new cell (the cells' rows of
    issue 41, results/bench_speed_cells.csv) are its matrix products, counted by hand: 2 B x the
    multiply-adds of its gate products and of the readout. The Phased LSTM's gates do not read the
    timestamp channel. The hyper cells' products are those of a hyper cell and a main cell (sizes
    from the cell itself)."""
    from torch.utils.flop_counter import FlopCounterMode

    from nobptt.learners.registry import build_learner
    from nobptt.tasks.base import Batch

    B, D, H, C = 3, 6, 8, 5
    torch.manual_seed(0)
    learner = build_learner("tbptt", {"cell": cell, "hidden": H}, D, C)
    x = torch.randn(B, D)
    batch = Batch(x=x, label=torch.zeros(B, dtype=torch.long), target_x=x, target_label=torch.zeros(B, dtype=torch.long))
    state = learner.initial_state(B, "cpu")
    counter = FlopCounterMode(display=False)
    with counter:
        learner.infer(state, batch)
    readout = 2 * B * H * C
    name, _, depth = cell.partition(":")
    if name == "lstm":
        expected = 2 * B * (D + H) * 4 * H
    elif name == "plstm":
        expected = 2 * B * (D - 1 + H) * 4 * H
    elif name == "rhn":
        expected = 2 * B * (D * 2 * H + int(depth) * H * 2 * H)
    else:  # every weight matrix of the hyper and main cells is used once per step (biases stacked per layer are not products)
        expected = 2 * B * sum(p.numel() for n, p in learner.cell.named_parameters() if p.dim() >= 2 and "bias" not in n)
    assert counter.get_total_flops() == expected + readout
