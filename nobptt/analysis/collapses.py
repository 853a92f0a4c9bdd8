"""The collapses of a run's validation accuracy, set beside the gradient norms logged around them
(``nobptt analyze collapses PATH [--drop 10] [--before 8]``).

PATH is a run folder or a record file (docs/results.md): a ``nobptt report`` training record keeps
every run's metrics rows under ``curves``, one section per run. A collapse is a validation point
more than ``drop`` percentage points below the one before it. For each, the per-epoch rows between
the two points (``grad_norm``: the mean global gradient norm before clipping, ``clipped``: the
fraction of updates clipped, ``loss``; ``grad_norm_max``, one update's largest, and SAB's per-part
norms ``grad_norm_lstm`` / ``_attention`` / ``_head``, where logged) are summarised next to the same
figures over the ``before`` validation intervals that preceded it: a collapse that follows a burst
of large or clipped gradients shows up as a ratio well above 1. Steps are counted in updates
(nobptt.records.labels.updates).
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from nobptt.analysis.sab import runs_with_curves, updates
from nobptt.errors import RecordError
from nobptt.records.io import load_file

Rows = list[dict[str, Any]]


def read_runs(path: Path) -> list[tuple[str, dict[str, Any], Rows]]:
    """(name, resolved config, metrics rows) of a run folder, or of each run in a record file."""
    path = Path(path)
    if path.is_dir():
        metrics, config = path / "metrics.jsonl", path / "config.json"
        if not (metrics.exists() and config.exists()):
            raise RecordError(f"{path}: not a run folder (no config.json and metrics.jsonl); "
                              "give a run folder or a record file")
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
        return [(str(path), json.loads(config.read_text())["config"], rows)]
    return [(run.get("run_dir") or record["label"], run["config"], rows)
            for record in load_file(path)["records"] for run, rows in runs_with_curves(record)]


def between(epochs: Rows, start: int, end: int) -> Rows:
    return [r for r in epochs if start < r["step"] <= end]


def summary(rows: Rows) -> str:
    if not rows:
        return "no gradient norms logged"
    norms = [r["grad_norm"] for r in rows]
    # grad_norm_max: the largest single update's norm, logged where train.log_max is on
    peak = max((r["grad_norm_max"] for r in rows if "grad_norm_max" in r), default=None)
    return (f"grad_norm mean {statistics.fmean(norms):.3f}, max {max(norms):.3f}"
            + (f", one update's max {peak:.3f}" if peak is not None else "") + "; clipped "
            f"{statistics.fmean(r['clipped'] for r in rows):.0%}; loss max {max(r['loss'] for r in rows):.3f}"
            + parts(rows))


def parts(rows: Rows) -> str:
    """The largest epoch mean of each part's norm (grad_norm_lstm, ..., logged by SAB), so a burst
    can be placed in the cell, the attention or the read-out."""
    names = sorted({k for r in rows for k in r if k.startswith("grad_norm_") and k != "grad_norm_max"})
    if not names:
        return ""
    return "; by part, max: " + ", ".join(
        f"{name.removeprefix('grad_norm_')} {max(r[name] for r in rows if name in r):.3f}" for name in names)


def collapses(validation: Rows, drop: float) -> list[int]:
    """Indices i where accuracy fell from point i to i + 1 by more than ``drop`` percentage points."""
    return [i for i, (a, b) in enumerate(zip(validation, validation[1:]))
            if 100 * (a["heldout_accuracy"] - b["heldout_accuracy"]) > drop]


def report(path: Path, drop: float = 10.0, before: int = 8) -> list[str]:
    """One section per run: its name, then its collapses (or that it had none)."""
    lines = []
    for name, config, rows in read_runs(path):
        lines += [name] + ["  " + line for line in run_report(config, rows, drop, before)]
    return lines


def run_report(config: dict[str, Any], rows: Rows, drop: float, before: int) -> list[str]:
    validation = [r for r in rows if "heldout_accuracy" in r]
    epochs = [r for r in rows if "grad_norm" in r]
    lines = []
    for i in collapses(validation, drop):
        a, b = validation[i], validation[i + 1]
        start = validation[max(i - before, 0)]["step"] if i else 0
        inside, earlier = between(epochs, a["step"], b["step"]), between(epochs, start, a["step"])
        ratio = ""
        if inside and earlier:
            ratio = (f" (x{max(r['grad_norm'] for r in inside) / statistics.median(r['grad_norm'] for r in earlier):.1f}"
                     " the earlier median)")
        lines += [f"{100 * a['heldout_accuracy']:.1f}% at {updates(config, a['step']):,} -> "
                  f"{100 * b['heldout_accuracy']:.1f}% at {updates(config, b['step']):,} updates",
                  f"  between: {summary(inside)}{ratio}",
                  f"  the {before} intervals before: {summary(earlier)}"]
    return lines or [f"no validation drop of more than {drop:g} points in {len(validation)} points"]
