"""`nobptt sweep` (issue 42; docs/sweep.md): a 2 x 2 sweep of a tiny Add-task experiment gives, on the
local backend and on a local Ray instance, the runs that running each point by hand gives; a crashed
point is reported and the others go on; Ctrl-C leaves every point resumable and a rerun finishes only
the missing ones; bad grids are refused before anything runs, naming the valid choices."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nobptt.cli import main
from nobptt.errors import ConfigError, DamagedFileError
from nobptt.records.io import load_file
from nobptt.records.provenance import RepeatedTestReadWarning
from nobptt.sweep.grid import parse_grid, parse_seeds
from nobptt.sweep.plan import DIVERGED, FINISHED, UNFINISHED, default_sweep_dir, make_plan, run_dir, state, train_args
from nobptt.sweep.sessions import open_session, read_sessions, update_session

# add_online (RTRL, 32 streams) cut to 200 steps, a checkpoint and an evaluation every 100
SETS = ["train.steps=200", "train.epoch_steps=50", "train.eval_every=100", "train.checkpoint_every=100",
        "task.eval_length=100"]
GRID = "model.hidden=8,16"
SEEDS = [0, 1]


def plan():
    return make_plan("add_online", "add_online", SETS, parse_grid([GRID]), SEEDS)


def sweep_args(sweep_dir: Path, *extra: str) -> list[str]:
    # --allow-dirty: the suite also runs from a tree with uncommitted changes (tests/test_provenance.py)
    return ["sweep", "add_online", "--seeds", "0-1", "--grid", GRID, *[a for s in SETS for a in ("--set", s)],
            "--sweep-dir", str(sweep_dir), "--out", str(sweep_dir.parent / "reports"), "--name", "swept",
            "--allow-dirty", *extra]


def outcome(folder: Path) -> dict:
    """A run's metrics rows and summary, training seconds aside (they differ between any two runs)."""
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    summary = json.loads((folder / "summary.json").read_text())
    drop = lambda row: {k: v for k, v in row.items() if k != "wall_time_s"}  # noqa: E731
    return {"rows": [drop(r) for r in rows], "summary": drop(summary)}


@pytest.fixture(scope="module")
def by_hand(tmp_path_factory):
    """Each point run by hand, in this process, with the `nobptt train` command the plan gives it."""
    root = tmp_path_factory.mktemp("by_hand")
    out = {}
    for point in plan().points:
        folder = root / point.name
        assert main(train_args(plan(), point, folder)) == 0
        out[point.name] = outcome(folder)
    return out


def test_local_sweep_reports_crashes_stops_on_ctrl_c_and_a_rerun_finishes_only_the_missing_points(
        tmp_path, monkeypatch, capsys, by_hand):
    sweep_dir = tmp_path / "sweep"
    points = plan().points
    # 1. every point's process is killed (kill -9) at step 150, after its checkpoint at 100: each
    #    crash is reported and the sweep goes on to the next point; nothing finished, nothing recorded
    monkeypatch.setenv("NOBPTT_FAULT", "step:150")
    assert main(sweep_args(sweep_dir, "--jobs", "2")) == 1
    assert capsys.readouterr().err.count("FAILED (exit -9)") == 4
    assert [state(run_dir(sweep_dir, p)) for p in points] == [UNFINISHED] * 4
    monkeypatch.delenv("NOBPTT_FAULT")

    # 2. the sweep as its own process, sent Ctrl-C (SIGINT) as soon as a point has finished: the
    #    running points are stopped, left resumable, and the sweep exits 130
    driver = subprocess.Popen([sys.executable, "-m", "nobptt", *sweep_args(sweep_dir, "--jobs", "2")],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 300
    while not any((run_dir(sweep_dir, p) / "summary.json").exists() for p in points):
        assert driver.poll() is None and time.monotonic() < deadline, "the sweep ended before a point finished"
        time.sleep(0.1)
    driver.send_signal(signal.SIGINT)
    out, _ = driver.communicate(timeout=120)
    assert driver.returncode == 130 and "each resumable" in out
    states = {p.name: state(run_dir(sweep_dir, p)) for p in points}
    done = [name for name, s in states.items() if s == FINISHED]
    assert 1 <= len(done) <= 2 and set(states.values()) <= {FINISHED, UNFINISHED}
    kept = {name: (run_dir(sweep_dir, p) / "summary.json").stat().st_mtime_ns for p in points
            if (name := p.name) in done}
    logs = {p.name: (sweep_dir / "logs" / f"{p.name}.log").read_text() for p in points}
    # collected now, the finished runs are recorded, but nothing is chosen and no test split read
    assert main(["sweep", "--collect", str(sweep_dir), "--out", str(tmp_path / "partial"), "--allow-dirty"]) == 0
    partial = load_file(tmp_path / "partial" / "sweep.json")
    assert {r["kind"] for r in partial["records"]} == {"training"} and "unfinished" in partial["note"]
    assert not any(r["details"]["sweep"]["selection"]["chosen"] for r in partial["records"])
    assert not any((run_dir(sweep_dir, p) / "test_reads.json").exists() for p in points)

    # 3. the same command again: the finished points are skipped, the others resumed from their checkpoints
    assert main(sweep_args(sweep_dir, "--jobs", "2")) == 0
    err = capsys.readouterr().err
    for point in points:
        folder = run_dir(sweep_dir, point)
        log = (sweep_dir / "logs" / f"{point.name}.log").read_text()
        if point.name in done:
            assert f"{point.name}: finished before (summary.json), skipped" in err
            assert (folder / "summary.json").stat().st_mtime_ns == kept[point.name]
            assert log == logs[point.name]  # no process ran for it
        else:
            assert log.startswith(logs[point.name])
            assert log[len(logs[point.name]):].startswith(f"$ nobptt train --resume {folder}\n")
        assert outcome(folder) == by_hand[point.name], point.name
    # each invocation is kept with its wall time, what it ran and how it ended
    sessions = json.loads((sweep_dir / "sessions.json").read_text())
    assert [(len(s["ran"]), len(s["failed"]), s["interrupted"]) for s in sessions][::2] == [(4, 4, False), (4 - len(done), 0, False)]
    assert sessions[1]["interrupted"] and set(sessions[2]["ran"]) == {p.name for p in points} - set(done)
    assert all(s["wall_time_s"] > 0 and s["jobs"] == 2 and s["backend"] == "local" for s in sessions)
    assert all(s["ended"] and not s["cut_off"] for s in sessions)  # each ended by itself, even the Ctrl-C

    # the aggregate record: a training record per grid point, the point chosen on validation, its
    # test split read once per seed
    data = load_file(tmp_path / "reports" / "swept.json")
    training = [r for r in data["records"] if r["kind"] == "training"]
    tests = [r for r in data["records"] if r["kind"] == "evaluation"]
    assert len(training) == 2 and all(r["metrics"]["best_nll_nats"]["n"] == 2 for r in training)
    assert training[0]["details"]["sweep"]["sessions"] == sessions
    validation = {hidden: sum(min(row["heldout_nll"] for row in by_hand[f"hidden={hidden}_s{s}"]["rows"]
                                  if "heldout_nll" in row) for s in SEEDS) / 2 for hidden in (8, 16)}
    best = min(validation, key=validation.get)
    [chosen] = [r for r in training if r["details"]["sweep"]["selection"]["chosen"]]
    assert chosen["details"]["sweep"]["point"] == [f"model.hidden={best}"]
    assert chosen["metrics"]["best_nll_nats"]["mean"] == pytest.approx(validation[best])
    assert len(tests) == 2 and {r["split"] for r in tests} == {"test"} and {r["test_reads"] for r in tests} == {1}
    assert {r["runs"][0]["seed"] for r in tests} == set(SEEDS) and {r["label"] for r in tests} == {chosen["label"]}
    # collecting again reads no test split again: the same record, the counts unchanged
    assert main(["sweep", "--collect", str(sweep_dir), "--out", str(tmp_path / "again"), "--name", "swept",
                 "--allow-dirty"]) == 0
    again = load_file(tmp_path / "again" / "swept.json")
    assert [r["metrics"] for r in again["records"]] == [r["metrics"] for r in data["records"]]
    assert {r["test_reads"] for r in again["records"] if r["kind"] == "evaluation"} == {1}
    # a record file of other runs is never overwritten
    other = tmp_path / "other" / "influence_balancing.json"
    other.parent.mkdir()
    other.write_text((Path(__file__).parents[1] / "results" / "influence_balancing.json").read_text())
    before = other.read_text()
    assert main(["sweep", "--collect", str(sweep_dir), "--out", str(other.parent), "--name", "influence_balancing",
                 "--allow-dirty"]) == 2
    assert "not this sweep's" in capsys.readouterr().err and other.read_text() == before


def test_ray_sweep_gives_the_runs_of_running_each_point_by_hand(tmp_path, capsys, monkeypatch, by_hand):
    ray = pytest.importorskip("ray", reason="the ray extra (in dev): pip install -e '.[dev]'")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")  # CI is offline: no usage report to send
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main(sweep_args(tmp_path / "sweep", "--backend", "ray")) == 0
    finally:
        ray.shutdown()
    for point in plan().points:
        assert outcome(run_dir(tmp_path / "sweep", point)) == by_hand[point.name], point.name
    assert "4 runs" in capsys.readouterr().out


@pytest.mark.parametrize("grid, message", [
    (["model.hiden=8,16"], "unknown key model.hiden for model 'rtrl' (did you mean hidden?); valid keys: cell, hidden, readout"),
    (["model.hidden=8,big"], "--grid value model.hidden=big: model.hidden='big' for model 'rtrl': expected int, got str"),
    (["model.hidden="], "--grid 'model.hidden=': an empty list"),
    (["model.hidden=8,,16"], "an empty value in the list"),
    (["model.hidden=8,8"], "value(s) ['8'] given twice"),
    (["model.name=rtrl,rtlr"], "unknown learner 'rtlr'; registered learners: "),
    (["model.hidden=8", "model.hidden=16"], "given in two --grid options"),
    (["train.seed=1,2"], "the seeds are set with --seeds"),
    (["hidden=8"], "must look like section.key=value"),
    (["model.hidden=8", "optim.lr=1e-3,-1.0"], "--grid value optim.lr=-1.0: optim.lr=-1.0"),
])
def test_bad_grids_are_refused_before_anything_runs_naming_the_valid_choices(tmp_path, capsys, grid, message):
    args = ["sweep", "add_online", "--sweep-dir", str(tmp_path / "sweep"), "--allow-dirty"]
    assert main(args + [a for g in grid for a in ("--grid", g)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "sweep").exists()


@pytest.mark.parametrize("text, seeds", [("0-4", [0, 1, 2, 3, 4]), ("0,2,5", [0, 2, 5]), ("0-1,7", [0, 1, 7])])
def test_seeds(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["", "3-1", "0,0", "a", "-1", "0,,1"])
def test_bad_seeds_are_refused(text):
    with pytest.raises(ConfigError, match="--seeds"):
        parse_seeds(text)


def test_the_same_command_names_the_same_folder_and_a_folder_holds_one_sweep(tmp_path, capsys):
    assert default_sweep_dir(plan()) == default_sweep_dir(plan())
    other = make_plan("add_online", "add_online", SETS, parse_grid(["model.hidden=8,32"]), SEEDS)
    assert default_sweep_dir(other) != default_sweep_dir(plan())
    assert [p.name for p in plan().points] == ["hidden=8_s0", "hidden=8_s1", "hidden=16_s0", "hidden=16_s1"]
    from nobptt.sweep.plan import write_plan

    write_plan(plan(), tmp_path)
    with pytest.raises(ConfigError, match="holds another sweep"):
        write_plan(other, tmp_path)


def test_every_best_metric_the_trainer_accepts_can_choose_a_sweeps_point():
    """A sweep chooses by the experiment's train.best_metric: every value the trainer accepts must
    name the record's validation metric and its direction (heldout_bce was missing at first)."""
    from nobptt.records.build import ROW_METRICS
    from nobptt.sweep.collect import SELECTION, selection
    from nobptt.train.trainer import BEST_METRICS

    assert set(SELECTION) == set(BEST_METRICS)
    for key, pick in BEST_METRICS.items():
        name, lower, checkpoint = selection({"train": {"best_metric": key}}, {})
        assert name == f"best_{ROW_METRICS[key]}" and lower == (pick is min) and checkpoint == "best.pt"


def test_a_probe_chooses_on_validation_and_never_reads_the_test_split(tmp_path, capsys, monkeypatch):
    """--no-test (a recipe probe): the choice is recorded, no test split is read, and a probe never
    shares a folder with the sweep that would read test (sweeps made before the flag keep their folder)."""
    import nobptt.evaluate

    def no_test_read(*args, **kwargs):
        raise AssertionError("a probe read the test split")

    monkeypatch.setattr(nobptt.evaluate, "evaluate_checkpoint", no_test_read)
    sweep_dir = tmp_path / "probe"
    args = ["sweep", "add_online", "--seeds", "0", "--grid", "model.hidden=4,8",
            *[a for s in SETS for a in ("--set", s)], "--sweep-dir", str(sweep_dir), "--out", str(tmp_path),
            "--name", "probe", "--allow-dirty", "--no-test"]
    assert main(args) == 0
    record = load_file(tmp_path / "probe.json")
    assert "probe (--no-test)" in record["note"]
    assert [r["kind"] for r in record["records"]] == ["training", "training"]
    assert sum(r["details"]["sweep"]["selection"]["chosen"] for r in record["records"]) == 1
    assert not (sweep_dir / "test_evaluations.json").exists()
    reading = make_plan("add_online", "add_online", SETS, parse_grid(["model.hidden=4,8"]), [0])
    probe = make_plan("add_online", "add_online", SETS, parse_grid(["model.hidden=4,8"]), [0], read_test=False)
    assert "read_test" not in reading.spec() and default_sweep_dir(reading) != default_sweep_dir(probe)
    capsys.readouterr()
    assert main(["sweep", "--collect", str(sweep_dir), "--no-test"]) == 2
    assert "--no-test is part of a sweep's plan" in capsys.readouterr().err


def test_a_diverged_point_is_an_outcome_left_out_of_the_choice_and_not_rerun(tmp_path, capsys):
    """A grid's rate too high for the model (issue 43's RHN probe at 3e-2): the run stops with its
    diverged.json, the sweep still chooses among the other points (exit 0), the record names the
    diverged point, and a rerun skips it instead of diverging again."""
    sweep_dir = tmp_path / "probe"
    sets = [*SETS, "optim.optimizer=sgd", "optim.grad_clip=0"]  # SGD at 1e30 overflows within 50 steps
    args = ["sweep", "add_online", "--seeds", "0", "--grid", "optim.lr=1e-3,1e30",
            *[a for s in sets for a in ("--set", s)], "--sweep-dir", str(sweep_dir), "--out", str(tmp_path),
            "--name", "probe", "--allow-dirty", "--no-test"]
    assert main(args) == 0
    out = "".join(capsys.readouterr())  # the points' lines go with the progress bar, to stderr
    assert "lr=1e30_s0: diverged, left out of the choice: training diverged" in out
    assert state(sweep_dir / "runs" / "lr=1e30_s0") == DIVERGED
    record = load_file(tmp_path / "probe.json")
    assert "diverged, left out of the choice: lr=1e30_s0" in record["note"]
    (chosen,) = [r for r in record["records"] if r["details"]["sweep"]["selection"]["chosen"]]
    assert chosen["details"]["sweep"]["point"] == ["optim.lr=1e-3"]
    assert main(args) == 0
    assert "lr=1e30_s0: diverged before (diverged.json" in "".join(capsys.readouterr())


def test_chosen_prints_the_point_a_sweep_chose_as_set_options_and_refuses_a_record_without_one(tmp_path, capsys):
    from nobptt.records.io import write_file
    from test_results_tables import run

    def rec(point, chosen):
        return {"schema": 1, "kind": "evaluation", "label": "x", "task": "t", "learner": "l", "experiment": "e",
                "split": "valid", "metrics": {"accuracy": 0.5}, "runs": [run(0, 0.5, 1.0)],
                "details": {"sweep": {"point": point, "selection": {"chosen": chosen}}}}
    good, none = tmp_path / "good.json", tmp_path / "none.json"
    write_file(good, {"schema": 1, "name": "good", "records": [rec(["optim.lr=1e-3", "model.hidden=8"], False),
                                                                rec(["optim.lr=3e-3", "model.hidden=16"], True)]})
    write_file(none, {"schema": 1, "name": "none", "records": [rec(["optim.lr=1e-3"], False)]})
    assert main(["sweep", "--chosen", str(good)]) == 0
    assert capsys.readouterr().out == "--set optim.lr=3e-3 --set model.hidden=16\n"
    assert main(["sweep", "--chosen", str(none)]) == 2
    assert "no point was chosen" in capsys.readouterr().err
    assert main(["sweep", "add_online", "--chosen", str(good)]) == 2


def test_a_sweep_collected_from_another_folder_reads_no_test_split_again(tmp_path, monkeypatch):
    """A sweep run with a relative --sweep-dir keeps its test reads under relative run paths;
    collecting it from another working folder (by its absolute path) must find them, not read the
    test split again (each checkpoint's test_reads.json stays at one read)."""
    here, elsewhere = tmp_path / "clone_a", tmp_path / "clone_b"
    here.mkdir(), elsewhere.mkdir()
    monkeypatch.chdir(here)
    args = ["sweep", "add_online", "--seeds", "0", *[a for s in SETS for a in ("--set", s)],
            "--sweep-dir", "sweeps/rel", "--out", "results", "--name", "rel", "--allow-dirty"]
    assert main(args) == 0
    monkeypatch.chdir(elsewhere)
    assert main(["sweep", "--collect", str(here / "sweeps" / "rel"), "--out", "results", "--name", "rel",
                 "--allow-dirty"]) == 0
    reads = json.loads((here / "sweeps" / "rel" / "runs" / "s0" / "test_reads.json").read_text())["reads"]
    assert len(reads) == 1
    tests = [r for r in load_file(elsewhere / "results" / "rel.json")["records"] if r["kind"] == "evaluation"]
    assert [r["test_reads"] for r in tests] == [1]
    # a kept read recorded under an older label rule is labelled by today's rule, as the training record
    cache = here / "sweeps" / "rel" / "test_evaluations.json"
    kept = json.loads(cache.read_text())
    kept["records"][0]["label"] = "an old label"
    cache.write_text(json.dumps(kept))
    assert main(["sweep", "--collect", str(here / "sweeps" / "rel"), "--out", "again", "--name", "rel",
                 "--allow-dirty"]) == 0
    records = load_file(elsewhere / "again" / "rel.json")["records"]
    assert len({r["label"] for r in records}) == 1 and records[0]["label"] != "an old label"
    assert [r["test_reads"] for r in records if r["kind"] == "evaluation"] == [1]


def test_the_sweeps_own_test_reads_run_at_its_threads_per_run(tmp_path, monkeypatch):
    """A sweep recording beside another lane reads the test split at --threads, as its points ran,
    not at torch's default of a thread per core (which slowed the other lane's timed run); so does
    --collect given --threads; the process's thread count is restored after."""
    import torch

    import nobptt.evaluate

    seen, read = [], nobptt.evaluate.evaluate_checkpoint

    def counting(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return read(*args, **kwargs)

    monkeypatch.setattr(nobptt.evaluate, "evaluate_checkpoint", counting)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        args = ["sweep", "add_online", "--seeds", "0", *[a for s in SETS for a in ("--set", s)], "--jobs", "1",
                "--threads", "1", "--sweep-dir", str(tmp_path / "sw"), "--out", str(tmp_path), "--name", "sw",
                "--allow-dirty"]
        assert main(args) == 0
        assert seen == [1] and torch.get_num_threads() == 2
        (tmp_path / "sw" / "test_evaluations.json").unlink()  # forget the kept read: read again
        with pytest.warns(RepeatedTestReadWarning):
            assert main(["sweep", "--collect", str(tmp_path / "sw"), "--threads", "1", "--out",
                         str(tmp_path / "again"), "--allow-dirty"]) == 0
        assert seen == [1, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_an_invocation_killed_outright_leaves_its_session_and_the_next_marks_it_cut_off(tmp_path):
    first = open_session(tmp_path, {"command": "first"})
    update_session(tmp_path, first, wall_time_s=12.5, ran=["s0"], failed=[])  # a point ended
    # killed here (kill -9: nothing closes the entry); the next invocation holds the lock and finds it open
    second = open_session(tmp_path, {"command": "second"})
    update_session(tmp_path, second, ended=True, wall_time_s=3.0, ran=["s1"], failed=[])
    sessions = read_sessions(tmp_path)
    assert [(s["command"], s["cut_off"], bool(s["ended"])) for s in sessions] == [("first", True, False),
                                                                                 ("second", False, True)]
    assert sessions[0]["wall_time_s"] == 12.5 and sessions[0]["ran"] == ["s0"]  # up to the last point that ended
    assert {"commit", "clean", "hardware", "torch"} <= set(sessions[0])
    # entries from before sessions were opened early (no "ended" field) are left as they are
    (tmp_path / "sessions.json").write_text(json.dumps([{"command": "old", "wall_time_s": 1.0}]))
    open_session(tmp_path, {"command": "new"})
    assert "cut_off" not in read_sessions(tmp_path)[0]


def test_a_damaged_sessions_file_is_named_and_left_in_place(tmp_path):
    (tmp_path / "sessions.json").write_text('[{"command": "cut mid-wri')
    with pytest.raises(DamagedFileError, match="sessions.json is damaged"):
        open_session(tmp_path, {"command": "next"})
    assert (tmp_path / "sessions.json").read_text() == '[{"command": "cut mid-wri'
