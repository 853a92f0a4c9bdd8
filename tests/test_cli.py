"""The command line, end to end on real ssMNIST and the adding task (small sizes so it stays fast)."""
import json
from pathlib import Path

import pytest

from nobptt.cli import main
from nobptt.records.io import load_file

SMALL = ["--set", "optim.lr=2e-3", "--set", "optim.classifier_lr=2e-3", "--set", "model.groups=200", "--set", "model.k=24", "--set", "model.classifier_hidden=128",
         "--set", "task.batch_size=64", "--set", "task.eval_batch_size=64", "--set", "train.progress=false",
         "--set", "train.epoch_steps=50", "--set", "train.eval_steps=20"]


def test_list_shows_every_learner_and_the_default_experiment(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("brsm", "pbrsm", "rsm", "lstm", "ssmnist", "ssmnist_pbrsm (default)"[:13]):
        assert name in out


def test_short_run_learns_well_above_chance_then_eval_and_report(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--steps", "1500", "--set", "train.eval_every=500", "--run-dir", str(run), *SMALL]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Bayes-optimal 88.89%" in out
    summary = json.loads((run / "summary.json").read_text())
    # chance is 10%, the best constant guess 15.3%, and no predictor that sees only the current
    # label can beat 30.2%: above 33% the memory carries context (this run reaches about 39%)
    assert summary["prequential_accuracy"] > 0.33
    assert summary["heldout_accuracy"] > 0.33
    meta = json.loads((run / "config.json").read_text())
    assert meta["config"]["model"]["groups"] == 200 and meta["torch"] and meta["commit"]
    assert main(["eval", str(run)]) == 0
    assert "held-out" in capsys.readouterr().out
    # --allow-dirty: the suite also runs from a tree with uncommitted changes (tests/test_provenance.py)
    assert main(["report", str(run), "--name", "smoke", "--out", str(tmp_path / "reports"), "--allow-dirty"]) == 0
    [record] = load_file(tmp_path / "reports" / "smoke.json")["records"]
    assert record["kind"] == "training" and record["learner"] == "pbrsm" and record["split"] == "valid"
    assert record["metrics"]["accuracy"] == summary["heldout_accuracy"]
    [entry] = record["runs"]
    assert entry["training"]["command"] == meta["command"] and entry["training"]["commit"] == meta["commit"]
    assert entry["training"]["hardware"] == meta["hardware"] and entry["steps"] == 1500
    assert (tmp_path / "reports" / "smoke.png").stat().st_size > 1000


def test_report_out_is_a_folder_and_a_file_there_is_refused_before_anything_is_written(tmp_path, capsys):
    assert main(["report", str(tmp_path / "run"), "--name", "x", "--out", str(tmp_path / "x.json")]) == 2
    assert "--out is the folder that receives x.json" in capsys.readouterr().err
    (tmp_path / "old").write_text("{}")
    assert main(["report", str(tmp_path / "run"), "--name", "x", "--out", str(tmp_path / "old")]) == 2
    assert (tmp_path / "old").read_text() == "{}" and not (tmp_path / "x.json").exists()


def test_resume_continues_a_run(tmp_path, capsys):
    run = tmp_path / "run"
    base = ["--set", "train.eval_every=0", *SMALL]
    assert main(["train", "--steps", "100", "--run-dir", str(run), *base]) == 0
    assert main(["train", "--resume", str(run), "--steps", "150", *base]) == 0
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [50, 100, 100, 150] or steps == [50, 100, 150]
    meta = json.loads((run / "config.json").read_text())
    assert meta["config"]["train"]["steps"] == 150  # the config in effect, extended by the resume
    assert "--steps 100" in meta["command"] and "--resume" not in meta["command"]
    [resumed] = meta["resumed"]
    assert resumed["at_step"] == 100 and "--steps 150" in resumed["command"] and resumed["commit"]
    assert main(["eval", str(run), "--out", str(tmp_path / "evals.json"), "--allow-dirty"]) == 0
    [record] = load_file(tmp_path / "evals.json")["records"]
    [entry] = record["runs"]
    assert entry["config"]["train"]["steps"] == 150 and record["split"] == "valid"
    [resume] = entry["training"]["resumed"]
    assert resume["at_step"] == 100 and resume["command"] == meta["resumed"][0]["command"]
    assert resume["commit"] == meta["resumed"][0]["commit"]
    assert main(["train", "--steps", "100", "--run-dir", str(run), *base]) == 2  # would overwrite it
    assert "already holds a run" in capsys.readouterr().err


def test_a_new_run_restarts_the_log_of_an_attempt_killed_before_its_first_checkpoint(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"step": 50, "loss": 9.0}) + "\n")
    assert main(["train", "--steps", "100", "--run-dir", str(run), "--set", "train.eval_every=0", *SMALL]) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [50, 100] and all(r.get("loss") != 9.0 for r in rows)


@pytest.mark.parametrize("args,message", [
    (["train", "--set", "model.kk=3"], "unknown key model.kk"),
    (["train", "no_such_experiment"], "unknown experiment 'no_such_experiment'"),
    (["train", "--device", "cuda:7"] , "CUDA is not available"),
    (["eval", "/nonexistent/run"], "not a run folder"),
    (["train", "--set", "model.k=5000"], "k=5000 must be between 1 and the number of units (1000)"),
    (["train", "--set", "model.selection=winner"], "selection='winner' must be one of"),
    (["train", "--set", "task.grammar=2 x 4"], "token 'x'"),
])
def test_bad_input_gives_a_clear_error_and_exit_code_2(args, message, capsys):
    import torch
    if "cuda:7" in args and torch.cuda.is_available():
        pytest.skip("machine has CUDA")
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_missing_data_is_named(tmp_path, capsys, monkeypatch):
    from nobptt.data import mnist, paths
    monkeypatch.delenv(paths.ENV_VAR, raising=False)  # no folder of the search path has MNIST
    monkeypatch.setattr(paths, "REPO_DATA", tmp_path / "repo")
    monkeypatch.setattr(paths, "CACHE_DATA", tmp_path / "cache")
    mnist._load.cache_clear()
    args = ["train", "--steps", "1", "--set", f"task.data_dir={tmp_path}", "--set", "task.download=false",
            "--run-dir", str(tmp_path / "run")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte.gz not found" in err and "NOBPTT_DATA" in err


def test_eval_on_test_split_records_that_splits_reference_levels(tmp_path, capsys):
    run, out = tmp_path / "run", tmp_path / "adding.json"
    small = ["--set", "task.T=6", "--set", "task.eval_sequences=32", "--set", "task.eval_batch_size=16",
             "--set", "model.hidden=8", "--set", "train.eval_every=0", "--set", "train.progress=false"]
    assert main(["train", "adding_sab", "--steps", "60", "--run-dir", str(run), *small]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--split", "test", "--out", str(out), "--allow-dirty", "--label", "tiny"]) == 0
    printed = capsys.readouterr().out
    (record,) = load_file(out)["records"]
    assert record["label"] == "tiny"
    constant = record["eval_ceilings"]["constant_mse"]
    assert record["split"] == "test" and constant != pytest.approx(1 / 6, abs=1e-4)  # 32 sums, not the expectation
    assert record["test_reads"] == 1 and record["learner"] == "sab" and "mse" in record["metrics"]
    assert f"predicting 1 on these episodes MSE {constant:.4f}" in printed


def test_eval_breakdown_of_a_copying_run_adds_up_to_its_accuracy(tmp_path, capsys):
    run, out = tmp_path / "run", tmp_path / "copying.json"
    small = ["--set", "task.T=5", "--set", "task.batch_size=8", "--set", "task.eval_sequences=32",
             "--set", "task.eval_batch_size=16", "--set", "model.hidden=8", "--set", "train.eval_every=0",
             "--set", "train.progress=false"]
    assert main(["train", "copying_sab", "--steps", "100", "--run-dir", str(run), *small]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--split", "test", "--breakdown", "--out", str(out), "--allow-dirty"]) == 0
    assert "by position 1-10" in capsys.readouterr().out
    (record,) = load_file(out)["records"]
    breakdown = record["details"]["breakdown"]
    assert breakdown["accuracy"] == pytest.approx(record["metrics"]["accuracy"])
    assert breakdown["episodes"] == 32 and sum(breakdown["episodes_by_errors"].values()) == 32
    assert sum(breakdown["accuracy_by_position"]) / 10 == pytest.approx(breakdown["accuracy"])


def test_eval_breakdown_refuses_a_task_that_is_not_copying(tmp_path, capsys):
    run = tmp_path / "run"
    small = ["--set", "task.T=6", "--set", "task.eval_sequences=16", "--set", "task.eval_batch_size=16",
             "--set", "model.hidden=8", "--set", "train.eval_every=0", "--set", "train.progress=false"]
    assert main(["train", "adding_sab", "--steps", "12", "--run-dir", str(run), *small]) == 0
    assert main(["eval", str(run), "--breakdown"]) != 0
    assert "--breakdown: copying_breakdown needs a finite held-out copying stream" in capsys.readouterr().err


def test_a_closed_pipe_ends_the_listing_quietly():
    import subprocess
    import sys

    proc = subprocess.run(f"{sys.executable} -m nobptt list | head -1", shell=True, capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.stdout.strip() == "learners:" and "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_a_run_stopped_early_says_so_on_resume_and_goes_on_with_more_patience(tmp_path, monkeypatch, capsys):
    from nobptt.train.trainer import Trainer

    scores = iter([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])  # held-out NLL only rises after the first
    monkeypatch.setattr(Trainer, "evaluate", lambda self: {"heldout_nll": next(scores)})
    run = tmp_path / "run"
    tiny = ["--set", "model.name=esn", "--set", "model.hidden=8", "--set", "train.epoch_steps=10",
            "--set", "train.eval_every=10", "--set", "train.progress=false",
            "--set", "train.best_metric=heldout_nll", "--set", "train.patience=2"]
    assert main(["train", "add_online", "--steps", "100", "--run-dir", str(run), *tiny]) == 0
    assert json.loads((run / "summary.json").read_text())["step"] == 30
    capsys.readouterr()
    assert main(["train", "--resume", str(run)]) == 2
    assert "stopped early at step 30, 2 evaluations after its best heldout_nll (step 10)" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--set", "train.patience=4"]) == 0
    assert json.loads((run / "summary.json").read_text())["step"] == 50
