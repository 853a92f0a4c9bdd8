"""nobptt.analysis.collapses (`nobptt analyze collapses`): validation collapses found and set beside
the gradient norms around them, in run folders and in schema-1 record files."""
import json

from nobptt.analysis import collapses
from nobptt.cli import main
from nobptt.records.build import training_record
from nobptt.records.io import write_file

L = 30  # copying, T = 10: 30 steps per update
CONFIG = {"task": {"name": "copying", "T": 10}, "model": {"name": "sab", "window": 0}, "train": {"seed": 0}}


def metrics_rows(accuracies, norms, peaks=None):
    """Validated every 10 updates, an epoch row (gradient norm) every 5; ``peaks``: each epoch's
    largest single-update norm (grad_norm_max), when given."""
    rows = [{"step": 5 * L * (i + 1), "wall_time_s": 1.0, "loss": 0.5, "grad_norm": g, "clipped": float(g > 1)}
            for i, g in enumerate(norms)]
    for row, peak in zip(rows, peaks or []):
        row["grad_norm_max"] = peak
    rows += [{"step": 10 * L * (i + 1), "wall_time_s": 1.0, "heldout_accuracy": a} for i, a in enumerate(accuracies)]
    return sorted(rows, key=lambda r: r["step"])


def run(folder, accuracies, norms, peaks=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"config": CONFIG}))
    rows = metrics_rows(accuracies, norms, peaks)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_a_collapse_is_reported_with_the_norms_between_and_before(tmp_path):
    folder = run(tmp_path, [0.5, 0.6, 0.3, 0.62], [0.2] * 4 + [3.0, 0.2] + [0.2] * 2)
    lines = collapses.report(folder, drop=10, before=2)
    assert lines[0] == str(folder) and lines[1] == "  60.0% at 20 -> 30.0% at 30 updates"
    assert "grad_norm mean 1.600, max 3.000; clipped 50%" in lines[2] and "(x15.0 the earlier median)" in lines[2]
    assert "grad_norm mean 0.200, max 0.200; clipped 0%" in lines[3]
    assert len(lines) == 4  # 30% -> 62% is a recovery, not a collapse


def test_the_largest_single_update_norm_is_shown_where_logged(tmp_path):
    folder = run(tmp_path, [0.5, 0.6, 0.3], [0.2] * 4 + [3.0, 0.2], peaks=[0.3] * 4 + [9.5, 0.4])
    lines = collapses.report(folder, drop=10, before=2)
    assert "grad_norm mean 1.600, max 3.000, one update's max 9.500; clipped 50%" in lines[2]
    assert "max 0.200, one update's max 0.300; clipped 0%" in lines[3]


def test_the_part_norms_are_shown_where_logged(tmp_path):
    folder = run(tmp_path, [0.5, 0.6, 0.3], [0.2] * 4 + [3.0, 0.2])
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    for r in rows:
        if "grad_norm" in r:  # the burst is in the attention
            r.update(grad_norm_lstm=0.1, grad_norm_attention=r["grad_norm"], grad_norm_head=0.05)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines = collapses.report(folder, drop=10, before=2)
    assert "; by part, max: attention 3.000, head 0.050, lstm 0.100 (x15.0" in lines[2]
    assert lines[3].endswith("; by part, max: attention 0.200, head 0.050, lstm 0.100")


def test_small_dips_are_not_collapses(tmp_path):
    folder = run(tmp_path, [0.5, 0.45, 0.5], [0.2] * 6)
    assert collapses.report(folder, drop=10)[1:] == ["  no validation drop of more than 10 points in 3 points"]


def test_a_record_file_gives_one_section_per_run(tmp_path, capsys):
    """A `nobptt report` record keeps each run's config and metrics rows; every run is read."""
    rows = metrics_rows([0.5, 0.6, 0.3], [0.2] * 4 + [3.0, 0.2])
    meta = {"config": CONFIG, "commit": "0" * 40, "clean": True}
    second = {"config": {**CONFIG, "train": {"seed": 1}}, "commit": "0" * 40, "clean": True}
    record = training_record([{"run_dir": "runs/a", "meta": meta, "rows": rows},
                              {"run_dir": "runs/b", "meta": second, "rows": rows[:4]}], "two seeds")
    path = write_file(tmp_path / "report.json", {"schema": 1, "name": "report", "records": [record]})
    lines = collapses.report(path, drop=10, before=2)
    assert lines[0] == "runs/a" and lines[1] == "  60.0% at 20 -> 30.0% at 30 updates"
    assert lines[4:] == ["runs/b", "  no validation drop of more than 10 points in 1 points"]
    assert main(["analyze", "collapses", str(path), "--drop", "10", "--before", "2"]) == 0
    assert capsys.readouterr().out.splitlines() == lines


def test_a_folder_without_a_run_is_a_clear_error(tmp_path, capsys):
    assert main(["analyze", "collapses", str(tmp_path)]) == 2
    assert f"{tmp_path}: not a run folder" in capsys.readouterr().err
