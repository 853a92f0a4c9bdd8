"""A metric of the selected records' validation curves at equal steps (``nobptt results --curve
METRIC``): one column per record (its label; the mean over its seeds' curves), one row per step
that every column has. With two columns a third gives their difference (second - first), the
figure a "unchanged within X at equal steps" condition is read from (docs/results.md)."""
from __future__ import annotations

import argparse
import statistics
from typing import Any

from nobptt.errors import RecordError
from nobptt.records.rows import DAGGER, FOOTNOTE, csv_text, format_metric, markdown, pinned, selected_records


def _series(record: dict[str, Any], metric: str) -> dict[int, float]:
    """step -> the mean over the record's seeds of ``metric`` at that step (steps every seed has)."""
    per_seed = [{p["step"]: p[metric] for p in curve if metric in p}
                for curve in (record.get("curves") or {}).values()]
    per_seed = [s for s in per_seed if s]
    if not per_seed:
        return {}
    steps = set.intersection(*(set(s) for s in per_seed))
    return {step: statistics.fmean(s[step] for s in per_seed) for step in sorted(steps)}


def curve_table(files: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    columns: list[tuple[str, dict[int, float]]] = []
    unpinned = False
    for name, record in selected_records(files, args):
        series = _series(record, args.curve)
        if series:
            label = record["label"]
            if any(label == other for other, _ in columns):
                label = f"{label} ({name})"
            if not all(pinned(run) for run in record["runs"]):
                label, unpinned = f"{label} {DAGGER}", True
            columns.append((label, series))
    if not columns:
        raise RecordError(f"--curve {args.curve}: no selected record has a curve with it; "
                          f"`nobptt results` lists the records")
    steps = sorted(set.intersection(*(set(s) for _, s in columns)))
    header = ["step"] + [label for label, _ in columns] + (["difference"] if len(columns) == 2 else [])
    body = []
    for step in steps:
        values = [s[step] for _, s in columns] + ([columns[1][1][step] - columns[0][1][step]]
                                                  if len(columns) == 2 else [])
        body.append([str(step)] + [format_metric(args.curve, [v]) if args.format == "markdown" else repr(v)
                                   for v in values])
    if args.format == "csv":
        return csv_text(header, body)
    return markdown(header, body) + ("\n" + FOOTNOTE + "\n" if unpinned else "")
