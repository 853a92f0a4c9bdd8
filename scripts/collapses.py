"""List the collapses of a run's validation accuracy with the gradient norms logged around them.

Usage: python scripts/collapses.py RUN_DIR|REPORT.json [--drop 10] [--before 8]
(REPORT.json: a record of `nobptt report`, which keeps every run's metrics rows; one section per run.)
A collapse is a validation point more than --drop percentage points below the one before it. For
each, the per-epoch rows of metrics.jsonl between the two points (``grad_norm``: the mean global
gradient norm before clipping, ``clipped``: the fraction of updates clipped, ``loss``; logged by
learners that clip, since commit bf89d6e; ``grad_norm_max``, one update's largest, and SAB's
per-part norms ``grad_norm_lstm`` / ``_attention`` / ``_head``, where logged)
are summarised next to the same figures over the --before validation intervals that preceded
it: a collapse that follows a burst of large or clipped gradients shows up as a ratio well above
1. Updates are counted as sab_table.py does.
"""
import argparse
import json
import statistics
from pathlib import Path

from sab_table import updates


def read_runs(path: Path) -> list[tuple[str, dict, list]]:
    """(name, config record, metrics rows) of a run folder, or of each run in a `nobptt report` record."""
    if path.is_dir():
        rows = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines() if line.strip()]
        return [(str(path), {"config": json.loads((path / "config.json").read_text())["config"]}, rows)]
    report = json.loads(path.read_text())
    configs = report["config"] if isinstance(report["config"], list) else [report["config"]] * len(report["curves"])
    return [(run_dir, {"config": config}, curve["rows"])
            for run_dir, config, curve in zip(report["run_dirs"], configs, report["curves"])]


def between(epochs: list, start: int, end: int) -> list:
    return [r for r in epochs if start < r["step"] <= end]


def summary(rows: list) -> str:
    if not rows:
        return "no gradient norms logged"
    norms = [r["grad_norm"] for r in rows]
    # grad_norm_max: the largest single update's norm, logged since train.log_max existed
    peak = max((r["grad_norm_max"] for r in rows if "grad_norm_max" in r), default=None)
    return (f"grad_norm mean {statistics.fmean(norms):.3f}, max {max(norms):.3f}"
            + (f", one update's max {peak:.3f}" if peak is not None else "") + "; clipped "
            f"{statistics.fmean(r['clipped'] for r in rows):.0%}; loss max {max(r['loss'] for r in rows):.3f}"
            + parts(rows))


def parts(rows: list) -> str:
    """The largest epoch mean of each part's norm (grad_norm_lstm, ..., logged by SAB since the
    per-part norms existed), so a burst can be placed in the cell, the attention or the read-out."""
    names = sorted({k for r in rows for k in r if k.startswith("grad_norm_") and k != "grad_norm_max"})
    if not names:
        return ""
    return "; by part, max: " + ", ".join(
        f"{name.removeprefix('grad_norm_')} {max(r[name] for r in rows if name in r):.3f}" for name in names)


def collapses(validation: list, drop: float) -> list[int]:
    """Indices i where accuracy fell from point i to i + 1 by more than ``drop`` percentage points."""
    return [i for i, (a, b) in enumerate(zip(validation, validation[1:]))
            if 100 * (a["heldout_accuracy"] - b["heldout_accuracy"]) > drop]


def report(path: Path, drop: float = 10.0, before: int = 8) -> list[str]:
    lines = []
    for name, record, rows in read_runs(path):
        lines += [name] + ["  " + line for line in run_report(record, rows, drop, before)]
    return lines


def run_report(record: dict, rows: list, drop: float, before: int) -> list[str]:
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
        lines += [f"{100 * a['heldout_accuracy']:.1f}% at {updates(record, a['step']):,} -> "
                  f"{100 * b['heldout_accuracy']:.1f}% at {updates(record, b['step']):,} updates",
                  f"  between: {summary(inside)}{ratio}",
                  f"  the {before} intervals before: {summary(earlier)}"]
    return lines or [f"no validation drop of more than {drop:g} points in {len(validation)} points"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="a run folder or a `nobptt report` record")
    parser.add_argument("--drop", type=float, default=10.0, help="percentage points (default 10)")
    parser.add_argument("--before", type=int, default=8, help="validation intervals for the baseline")
    args = parser.parse_args()
    print("\n".join(report(args.path, args.drop, args.before)))


if __name__ == "__main__":
    main()
