"""scripts/collapses.py: validation collapses found and set beside the gradient norms around them."""
import json

import pytest

from script_loader import load_script

L = 30  # copying, T = 10: 30 steps per update


@pytest.fixture(scope="module")
def collapses():
    yield from load_script("collapses")


def run(tmp_path, accuracies, norms, peaks=None):
    """A run folder validated every 10 updates, with an epoch row (gradient norm) every 5; ``peaks``:
    each epoch's largest single-update norm (grad_norm_max), when given."""
    (tmp_path / "config.json").write_text(json.dumps(
        {"config": {"task": {"name": "copying", "T": 10}, "model": {"window": 0}}}))
    rows = [{"step": 5 * L * (i + 1), "loss": 0.5, "grad_norm": g, "clipped": float(g > 1)} for i, g in enumerate(norms)]
    for row, peak in zip(rows, peaks or []):
        row["grad_norm_max"] = peak
    rows += [{"step": 10 * L * (i + 1), "heldout_accuracy": a} for i, a in enumerate(accuracies)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sorted(rows, key=lambda r: r["step"])))
    return tmp_path


def test_a_collapse_is_reported_with_the_norms_between_and_before(collapses, tmp_path):
    folder = run(tmp_path, [0.5, 0.6, 0.3, 0.62], [0.2] * 4 + [3.0, 0.2] + [0.2] * 2)
    lines = collapses.report(folder, drop=10, before=2)
    assert lines[0] == str(folder) and lines[1] == "  60.0% at 20 -> 30.0% at 30 updates"
    assert "grad_norm mean 1.600, max 3.000; clipped 50%" in lines[2] and "(x15.0 the earlier median)" in lines[2]
    assert "grad_norm mean 0.200, max 0.200; clipped 0%" in lines[3]
    assert len(lines) == 4  # 30% -> 62% is a recovery, not a collapse


def test_the_largest_single_update_norm_is_shown_where_logged(collapses, tmp_path):
    folder = run(tmp_path, [0.5, 0.6, 0.3], [0.2] * 4 + [3.0, 0.2], peaks=[0.3] * 4 + [9.5, 0.4])
    lines = collapses.report(folder, drop=10, before=2)
    assert "grad_norm mean 1.600, max 3.000, one update's max 9.500; clipped 50%" in lines[2]
    assert "max 0.200, one update's max 0.300; clipped 0%" in lines[3]


def test_the_part_norms_are_shown_where_logged(collapses, tmp_path):
    folder = run(tmp_path, [0.5, 0.6, 0.3], [0.2] * 4 + [3.0, 0.2])
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    for r in rows:
        if "grad_norm" in r:  # the burst is in the attention
            r.update(grad_norm_lstm=0.1, grad_norm_attention=r["grad_norm"], grad_norm_head=0.05)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines = collapses.report(folder, drop=10, before=2)
    assert "; by part, max: attention 3.000, head 0.050, lstm 0.100 (x15.0" in lines[2]
    assert lines[3].endswith("; by part, max: attention 0.200, head 0.050, lstm 0.100")


def test_small_dips_are_not_collapses(collapses, tmp_path):
    folder = run(tmp_path, [0.5, 0.45, 0.5], [0.2] * 6)
    assert collapses.report(folder, drop=10)[1:] == ["  no validation drop of more than 10 points in 3 points"]


def test_a_report_record_gives_one_section_per_run(collapses, tmp_path):
    """`nobptt report --labels` keeps each run's config and metrics rows; both runs are read."""
    folder = run(tmp_path, [0.5, 0.6, 0.3], [0.2] * 4 + [3.0, 0.2])
    config = json.loads((folder / "config.json").read_text())["config"]
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    record = tmp_path / "report.json"
    record.write_text(json.dumps({"config": [config, config], "run_dirs": ["runs/a", "runs/b"],
                                  "curves": [{"seed": 0, "rows": rows}, {"seed": 1, "rows": rows[:4]}]}))
    lines = collapses.report(record, drop=10, before=2)
    assert lines[0] == "runs/a" and lines[1] == "  60.0% at 20 -> 30.0% at 30 updates"
    assert lines[4:] == ["runs/b", "  no validation drop of more than 10 points in 1 points"]
