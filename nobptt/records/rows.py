"""The rows of a results table: the runs of one config on one split grouped into one row, the
formatting of a metric by its unit, and whether a row's code is pinned (docs/results.md, Tables).
Shared by the tables of `nobptt results` and the README's status table (headlines.py)."""
from __future__ import annotations

import argparse
import csv
import io
import statistics
from typing import Any

DAGGER = "†"
FOOTNOTE = (f"{DAGGER} code not pinned: a run was trained, resumed or evaluated from a tree with uncommitted "
            "changes, or its commit was not recorded (docs/results.md).")


def wanted(values: list[str] | None, value: Any) -> bool:
    return not values or value in values


def pinned(run: dict[str, Any]) -> bool:
    parts = [run.get("training") or {}, *((run.get("training") or {}).get("resumed") or [])]
    if run.get("evaluation"):
        parts.append(run["evaluation"])
    return all(p.get("commit") is not None and p.get("clean") is True for p in parts)


def selected_records(files: dict[str, dict[str, Any]], args: argparse.Namespace):
    """(file name, record) of every record the table options select, in file order."""
    for name, data in files.items():
        if "records" not in data or not wanted(args.file, name):
            continue
        for record in data["records"]:
            if (wanted(args.task, record["task"]) and wanted(args.learner, record["learner"])
                    and wanted(args.experiment, record["experiment"]) and wanted(args.kind, record["kind"])
                    and wanted(args.label, record["label"]) and (not args.split or record["split"] == args.split)):
                yield name, record


def record_rows(files: dict[str, dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Group the selected records' runs into table rows: one per config and split (and, for
    training records, final step); each row keeps its runs."""
    groups: dict[tuple, dict[str, Any]] = {}
    for name, record in selected_records(files, args):
        for run in record["runs"]:
            overrides = tuple(run.get("overrides") or ())
            if (args.overrides == "none" and overrides) or (args.overrides == "only" and not overrides):
                continue
            # training records read the metrics at the end of each run: runs stopped at
            # different steps are different rows, never averaged together
            stopped = run.get("steps") if record["kind"] == "training" else None
            key = (name, record["label"], record["kind"], record["task"], record["learner"],
                   record["experiment"], record["split"], overrides, stopped)
            row = groups.setdefault(key, {"file": name, "label": record["label"], "kind": record["kind"],
                                          "task": record["task"], "learner": record["learner"],
                                          "experiment": record["experiment"], "split": record["split"],
                                          "overrides": " ".join(overrides), "runs": []})
            row["runs"].append(run)
    return list(groups.values())


def metric_values(row: dict[str, Any], name: str) -> list[float]:
    return [r["metrics"][name] for r in row["runs"] if name in r.get("metrics", {})]


def format_metric(name: str, values: list[float]) -> str:
    """``88.29%`` or ``88.29 ± 0.21%`` for accuracies and fractions; the unit's precision otherwise."""
    if not values:
        return ""
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else None
    if name.endswith(("accuracy", "fraction")):
        return f"{100 * mean:.2f}%" if std is None else f"{100 * mean:.2f} ± {100 * std:.2f}%"
    spec = ("{:.2f}" if name.endswith("perplexity") else "{:.3f}" if name.endswith("bpc")
            else "{:.1f}" if name.endswith("wall_time_s") else "{:.0f}" if name.endswith("bytes") else "{:.4g}")
    text = spec.format(mean)
    return text if std is None else f"{text} ± {std:.2g}"


def markdown(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def csv_text(header: list[str], body: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(body)
    return out.getvalue()
