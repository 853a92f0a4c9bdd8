"""Issue 38 (reliability): each test reproduces one failure the issue reports and checks the fix."""
import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nobptt.cli import main
from tests.test_cli import SMALL

ROOT = Path(__file__).resolve().parent.parent
BASE = ["--set", "train.eval_every=0", *SMALL]


def _snapshot(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run.iterdir()) if p.is_file() and p.name != ".lock"}


def test_a_second_process_on_the_same_run_dir_is_refused_with_the_owners_pid_and_command(tmp_path):
    """Issue 38: two `nobptt train` on one --run-dir both ran and interleaved metrics.jsonl.
    The test process holds the folder's lock as a running train would; a real second process
    (`python -m nobptt train --run-dir SAME`) must stop at once with exit 2, naming the owner."""
    run = tmp_path / "run"
    run.mkdir()
    with open(run / ".lock", "a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write(f"pid {os.getpid()}: nobptt train --run-dir {run}\n")
        held.flush()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-m", "nobptt", "train", "--steps", "100", "--run-dir", str(run), *BASE],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
        assert done.returncode == 2, done.stderr
        assert "is in use by another process" in done.stderr and f"pid {os.getpid()}" in done.stderr
        assert "Traceback" not in done.stderr
        assert sorted(p.name for p in run.iterdir()) == [".lock"]  # nothing written
    # once the owner is gone (its lock released), the folder can be used
    assert main(["train", "--steps", "50", "--run-dir", str(run), *BASE]) == 0
    assert f"pid {os.getpid()}: " in (run / ".lock").read_text()


@pytest.mark.parametrize("steps", [None, "50", "100"])
def test_resuming_a_finished_run_without_more_steps_changes_nothing(tmp_path, capsys, steps):
    """Issue 38: `train --resume RUN` on a finished run without raising the steps (or with fewer)
    ended in `KeyError: 'step'`, overwrote summary.json with {}, appended a bogus resume and lowered
    train.steps in config.json. Now: one line "nothing to do", exit 2, the folder byte-identical."""
    run = tmp_path / "run"
    assert main(["train", "--steps", "100", "--run-dir", str(run), *BASE]) == 0
    before = _snapshot(run)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), *(["--steps", steps] if steps else [])]) == 2
    err = capsys.readouterr().err
    assert f"nothing to do: {run} finished at step 100; raise --steps above 100" in err
    assert _snapshot(run) == before


@pytest.mark.parametrize("flag", [["--steps", "0"], ["--set", "train.steps=-1"]])
def test_a_new_run_with_no_steps_is_refused_before_a_folder_is_made(tmp_path, capsys, flag):
    """Issue 38: `--steps 0` / `train.steps=-1` on a new run ended in a traceback and left a folder
    then refused as holding a run."""
    run = tmp_path / "run"
    assert main(["train", "--run-dir", str(run), *BASE, *flag]) == 2
    assert "train.steps" in capsys.readouterr().err
    assert not run.exists()


def test_a_bad_override_at_resume_is_not_written_into_config_json(tmp_path, capsys):
    """Issue 38: a bad override given with --resume (a learning rate that diverges) was written into
    config.json before training started, so the resume the error message suggested failed the same
    way. Now config.json changes only once the resumed run has checkpointed, and the overrides of
    a resume are recorded under that resume."""
    run = tmp_path / "run"
    assert main(["train", "--steps", "100", "--run-dir", str(run), *BASE]) == 0
    config_before = (run / "config.json").read_bytes()
    # an override that fails once training starts: NaN learning rate
    code = main(["train", "--resume", str(run), "--steps", "200", "--set", "optim.lr=nan", "--set", "optim.classifier_lr=nan"])
    assert code == 2
    assert (run / "config.json").read_bytes() == config_before
    assert main(["train", "--resume", str(run), "--steps", "150", "--set", "train.epoch_steps=25"]) == 0
    meta = json.loads((run / "config.json").read_text())
    [resumed] = meta["resumed"]
    assert resumed["overrides"] == ["train.epoch_steps=25", "train.steps=150"] and resumed["at_step"] == 100
    assert meta["config"]["train"]["steps"] == 150


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "emptied":
        path.write_bytes(b"")
    else:  # bytes overwritten in the middle: the file still loads without a checksum
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 64]) + data[middle + 64:])


@pytest.mark.parametrize("how", ["truncated", "emptied", "bit-flipped"])
def test_a_damaged_checkpoint_is_named_as_damaged_and_the_previous_one_offered(tmp_path, capsys, how):
    """Issue 38: a truncated or emptied checkpoint gave a raw torch traceback in `train --resume` and
    `eval`; one with bytes overwritten in the middle loaded silently. Now each is named as damaged
    (exit 2), and the previous checkpoint, kept beside it and verified, is offered."""
    run = tmp_path / "run"
    assert main(["train", "--steps", "100", "--set", "train.checkpoint_every=50", "--run-dir", str(run), *BASE]) == 0
    assert (run / "checkpoint.pt.sha256").exists() and (run / "checkpoint.prev.pt").exists()
    _damage(run / "checkpoint.pt", how)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "150"]) == 2
    err = capsys.readouterr().err
    assert f"checkpoint {run / 'checkpoint.pt'} is damaged" in err and "Traceback" not in err
    assert f"The previous checkpoint {run / 'checkpoint.prev.pt'} is intact" in err
    assert main(["eval", str(run)]) == 2
    assert f"checkpoint {run / 'checkpoint.pt'} is damaged" in capsys.readouterr().err
    # the offered command works: the previous checkpoint (step 50) resumes
    os.replace(run / "checkpoint.prev.pt", run / "checkpoint.pt")
    os.replace(run / "checkpoint.prev.pt.sha256", run / "checkpoint.pt.sha256")
    assert main(["train", "--resume", str(run), "--steps", "150"]) == 0
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [50, 100, 150]


def test_a_checkpoint_from_before_checksums_loads_unverified_and_says_so_once(tmp_path, capsys):
    """Checkpoints written before checksums existed keep loading (issue 38, compatibility)."""
    run = tmp_path / "run"
    assert main(["train", "--steps", "50", "--run-dir", str(run), *BASE]) == 0
    (run / "checkpoint.pt.sha256").unlink()
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "100"]) == 0
    assert capsys.readouterr().err.count("has no checksum file") == 1
    assert (run / "checkpoint.pt.sha256").exists()  # written with the next checkpoint


def test_a_crash_between_the_checkpoint_and_its_checksum_still_verifies(tmp_path):
    """The checksum file lists the old and the new digest while the checkpoint is replaced."""
    from nobptt.train.checkpoint import checksum_path, load_checkpoint, save_checkpoint
    path = tmp_path / "checkpoint.pt"
    save_checkpoint({"step": 1}, path, keep_previous=True)
    old = path.read_bytes()
    save_checkpoint({"step": 2}, path, keep_previous=True)
    assert load_checkpoint(tmp_path / "checkpoint.prev.pt")["step"] == 1
    new_digest = checksum_path(path).read_text().split()[0]
    import hashlib
    # the state after the new checksums were written but before the new file was renamed in place
    checksum_path(path).write_text(f"{new_digest}  checkpoint.pt\n{hashlib.sha256(old).hexdigest()}  checkpoint.pt\n")
    path.write_bytes(old)
    assert load_checkpoint(path)["step"] == 1


def test_a_finite_explosion_stops_the_run_before_its_checkpoint_is_overwritten(tmp_path, capsys):
    """Issue 38: a run whose loss explodes but stays finite (`--set model.lr=1e9`) never stopped
    (memory MSE 9.3e20 after 8,000 batches, no warning). Now it stops with DivergedError at the
    first metrics row, naming the last good checkpoint, which is left as it was."""
    run = tmp_path / "run"
    assert main(["train", "--steps", "100", "--run-dir", str(run), *BASE]) == 0
    good = (run / "checkpoint.pt").read_bytes()
    config = (run / "config.json").read_bytes()
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "400", "--set", "model.lr=1e9"]) == 2
    err = capsys.readouterr().err
    assert "training diverged: memory_mse" in err and "at step 150" in err
    assert f"the last good checkpoint is {run / 'checkpoint.pt'}" in err
    assert (run / "checkpoint.pt").read_bytes() == good and (run / "config.json").read_bytes() == config
    # a plain resume, as the message says, continues with the config that worked
    assert main(["train", "--resume", str(run), "--steps", "150"]) == 0


def test_an_epoch_loss_far_above_its_recent_range_is_an_explosion():
    """Issue 38: the rule behind the finite-explosion stop (a loss 1e3 x its recent median, or
    any logged value beyond 1e15 or non-finite), on rows of metrics."""
    from nobptt.train.trainer import explosion
    history = {"classifier_ce": [2.3, 2.1, 1.9, 1.8]}
    assert explosion({"step": 500, "classifier_ce": 1.7, "prequential_accuracy": 0.3}, history) is None
    assert explosion({"step": 500, "classifier_ce": 30.0}, history) is None  # high, not an explosion
    assert "over 1e+03 x its median" in explosion({"step": 500, "classifier_ce": 2.5e3}, history)
    assert "beyond 1e+15" in explosion({"step": 50, "memory_mse": 5e20}, {})
    assert "non-finite heldout_nll" in explosion({"step": 50, "heldout_nll": float("inf")}, {})
    assert explosion({"step": 50, "memory_mse": 1e-3}, {"memory_mse": [1e-6, 1e-6]}) is None  # near zero
    # a gradient norm leaving a plateau is not a loss exploding (copying, full BPTT, T = 300, seed 1)
    assert explosion({"step": 9, "loss": 0.1, "grad_norm_lstm": 11.05}, {"grad_norm_lstm": [0.0012] * 20}) is None
    assert "non-finite grad_norm" in explosion({"step": 9, "grad_norm": float("nan")}, {"grad_norm": [0.1]})


def test_progress_formatting_never_raises_on_an_overflowing_value():
    """Issue 38: with classifier_lr=1e9 the progress line's math.exp raised OverflowError and the
    batches since the last checkpoint were lost."""
    import io
    from nobptt.progress import ProgressLine, format_row
    row = {"step": 10, "heldout_nll": 1e6, "wall_time_s": 1.0}
    assert "perplexity inf" in format_row(row, {}, "ptb_word")
    line = ProgressLine(20, 0, {}, "ptb_word", file=io.StringIO())
    line(10, row)
    line.close()


def test_a_new_run_refused_by_a_value_the_task_rejects_leaves_no_folder(tmp_path, capsys):
    """The run folder lock is taken before the task and learner are built; a refused new run must
    not leave a folder holding only the lock file."""
    run = tmp_path / "run"
    assert main(["train", "--run-dir", str(run), *BASE, "--set", "model.k=5000"]) == 2
    assert "k=5000" in capsys.readouterr().err and not run.exists()


def test_a_loss_that_stays_above_the_untrained_models_for_long_is_a_divergence():
    """Issue 38: "divergence detection that also catches finite explosions (... or above the
    untrained model's loss for long)". Ten epochs in a row above 2 x the first epoch's loss."""
    from nobptt.train.trainer import UNTRAINED_EPOCHS, above_untrained
    untrained, above = {}, {}
    assert above_untrained({"step": 100, "loss": 2.3, "grad_norm": 0.1}, untrained, above) is None
    assert untrained == {"loss": 2.3}  # the first epoch is the untrained model's
    for _ in range(UNTRAINED_EPOCHS - 1):  # 9 epochs above, then one below: the count starts again
        assert above_untrained({"step": 200, "loss": 5.0, "grad_norm": 50.0}, untrained, above) is None
    assert above_untrained({"step": 300, "loss": 4.0}, untrained, above) is None and above["loss"] == 0
    for epoch in range(UNTRAINED_EPOCHS):
        bad = above_untrained({"step": 400 + epoch, "loss": 5.0}, untrained, above)
    assert bad == "loss 5, above 2 x the untrained model's 2.3 (its first epoch) for 10 epochs in a row"


def test_no_recorded_curve_would_have_been_stopped_by_the_untrained_loss_rule():
    """The rule must not stop runs like the ones recorded: every curve kept in results/."""
    from nobptt.records.io import load_all
    from nobptt.train.trainer import above_untrained
    curves = 0
    for name, data in load_all(ROOT / "results").items():
        for record in data.get("records", []) if isinstance(data, dict) else []:
            for run, rows in (record.get("curves") or {}).items():
                untrained, above = {}, {}
                curves += 1
                for row in rows:
                    assert above_untrained(row, untrained, above) is None, (name, run, row["step"])
    assert curves > 200


def test_the_untrained_loss_rule_stops_a_run_and_keeps_its_checkpoint(tmp_path, capsys, monkeypatch):
    """The trainer applies the rule on epoch rows, before the row is logged or checkpointed (here with
    a bar every run passes: 0.5 x the first epoch's loss for 2 epochs), and the count survives a resume."""
    from nobptt.train import trainer
    run = tmp_path / "run"
    assert main(["train", "--steps", "100", "--set", "train.checkpoint_every=50", "--run-dir", str(run), *BASE]) == 0
    monkeypatch.setattr(trainer, "UNTRAINED_FACTOR", 0.5)
    monkeypatch.setattr(trainer, "UNTRAINED_EPOCHS", 2)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "300"]) == 2
    err = capsys.readouterr().err
    # the checkpoint at step 100 holds the first epoch's losses (step 50) and a count of 0 (the real
    # bar, 2 x, at step 100); with the lowered bar, steps 150 and 200 count: stopped at 200
    assert "above 0.5 x the untrained model's" in err and "for 2 epochs in a row" in err and "at step 200" in err
    assert f"`nobptt train --resume {run} --steps 300`" in err
    from nobptt.train.checkpoint import load_checkpoint
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 150  # the step-200 row was neither logged nor saved
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [50, 100, 150]
