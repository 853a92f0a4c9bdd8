"""``nobptt frames``: a video run's predicted next frames beside the true ones, as a png."""
import json

import pytest

from nobptt.cli import main

TINY = ["--set", "task.size=32", "--set", "task.sprite=14", "--set", "task.frames=5", "--set", "task.batch_size=2",
        "--set", "task.eval_sequences=4", "--set", "task.eval_batch_size=2", "--set", "model.hidden=8",
        "--set", "train.eval_every=8", "--set", "train.epoch_steps=4", "--set", "train.checkpoint_every=8",
        "--set", "train.progress=false"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("frames") / "run"
    assert main(["train", "bouncing_uoro", "--steps", "8", "--run-dir", str(run_dir), *TINY]) == 0
    return run_dir


def test_frames_writes_a_png_of_truth_and_prediction(run, tmp_path, capsys):
    out = tmp_path / "pics" / "frames.png"
    assert main(["frames", str(run), "--checkpoint", "best.pt", "--sequences", "2", "--steps", "3",
                 "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 2000
    assert "2 sequences, 3 steps" in capsys.readouterr().out
    # zero-shot pictures: the same run on notMNIST sequences; the test split counts as a test read
    assert main(["frames", str(run), "--split", "test", "--set", "task.glyphs=notmnist", "--out", str(out)]) == 0
    reads = json.loads((run / "test_reads.json").read_text())["reads"]
    assert [r["checkpoint"] for r in reads] == ["checkpoint.pt"]


def test_frames_refuses_what_it_cannot_draw(run, tmp_path, capsys):
    assert main(["frames", str(run), "--sequences", "3", "--out", str(tmp_path / "x.png")]) != 0
    assert "--sequences 3 must be in 1..2" in capsys.readouterr().err
    assert main(["frames", str(run), "--checkpoint", "nope.pt", "--out", str(tmp_path / "x.png")]) != 0
    assert "nope.pt not found" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_report_of_a_video_run_records_bce_and_plots_its_curve(run, tmp_path):
    from nobptt.report import record_result, run_summary, runs_to_curve

    curve = runs_to_curve(run_summary(run))
    assert curve["unit"] == "bce" and curve["held_step"] == [8] and len(curve["acc"]) == 2
    path = record_result([run], "video", tmp_path, allow_dirty=True)
    record = json.loads(path.read_text())["records"][0]
    assert {"bce_nats", "sse", "best_bce_nats"} <= set(record["metrics"])
    assert path.with_suffix(".png").stat().st_size > 2000
