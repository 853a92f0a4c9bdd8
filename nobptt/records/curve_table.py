"""A metric of the selected records' validation curves at equal steps (``nobptt results --curve
METRIC``): one column per record (its label; the mean over its seeds' curves) or, with
``--per-seed``, per seed's curve, and one row per step that every column has. With two columns a
third gives their difference (second - first), the figure a "unchanged within X at equal steps"
condition is read from (docs/results.md). Where every selected run updates once per episode of one
length, an ``updates`` column gives the steps in updates."""
from __future__ import annotations

import argparse
import statistics
from typing import Any

from nobptt.errors import RecordError
from nobptt.records.rows import DAGGER, FOOTNOTE, csv_text, format_metric, markdown, pinned, selected_records


def _seed_curves(record: dict[str, Any], metric: str) -> dict[str, dict[int, float]]:
    """curve key (``seed0``) -> step -> ``metric``, for the record's curves that have it."""
    curves = {key: {p["step"]: p[metric] for p in curve if metric in p}
              for key, curve in (record.get("curves") or {}).items()}
    return {key: c for key, c in curves.items() if c}


def _mean(curves: list[dict[int, float]]) -> dict[int, float]:
    """step -> the mean over ``curves`` at that step (steps every curve has)."""
    steps = set.intersection(*(set(c) for c in curves))
    return {step: statistics.fmean(c[step] for c in curves) for step in sorted(steps)}


def _episode_length(records: list[dict[str, Any]]) -> int | None:
    """The one episode length of every selected run (steps per update), else None."""
    from nobptt.records.labels import episode_length

    lengths = set()
    for record in records:
        for run in record["runs"]:
            config = run.get("config") or {}
            try:
                lengths.add(episode_length(config))
            except (KeyError, TypeError, ValueError):  # a config without a task: unknown
                return None
    return lengths.pop() if len(lengths) == 1 and min(lengths) > 1 else None


def curve_table(files: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    columns: list[tuple[str, dict[int, float]]] = []
    unpinned, used, seen = False, [], set()
    per_seed = getattr(args, "per_seed", False)
    for name, record in selected_records(files, args):
        curves = _seed_curves(record, args.curve)
        if not curves:
            continue
        used.append(record)
        label = record["label"]
        if label in seen:
            label = f"{label} ({name})"
        seen.add(label)
        if not all(pinned(run) for run in record["runs"]):
            label, unpinned = f"{label} {DAGGER}", True
        if per_seed:
            columns += [(f"{label}, {key.replace('seed', 'seed ')}", c) for key, c in curves.items()]
        else:
            columns.append((label, _mean(list(curves.values()))))
    if not columns:
        raise RecordError(f"--curve {args.curve}: no selected record has a curve with it; "
                          f"`nobptt results` lists the records")
    steps = sorted(set.intersection(*(set(s) for _, s in columns)))
    length = _episode_length(used)
    difference = len(columns) == 2 and not per_seed  # two records compared
    header = ["step"] + (["updates"] if length else []) + [label for label, _ in columns] + \
        (["difference"] if difference else [])
    body = []
    for step in steps:
        values = [s[step] for _, s in columns] + ([columns[1][1][step] - columns[0][1][step]]
                                                  if difference else [])
        body.append([str(step)] + ([f"{step // length:,}" if args.format == "markdown" else str(step // length)]
                                   if length else [])
                    + [format_metric(args.curve, [v]) if args.format == "markdown" else repr(v) for v in values])
    if args.format == "csv":
        return csv_text(header, body)
    return markdown(header, body) + ("\n" + FOOTNOTE + "\n" if unpinned else "")
