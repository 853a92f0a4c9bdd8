"""The status table (``nobptt results --headlines``): each system's headline number next to the
paper's. Ours is read from the records (``nobptt results`` rows, mean +- std over seeds); the
paper's is a fixed fact with its source, kept here beside the selection that produces ours.

A headline whose selection matches no row, or more than one, is an error naming it: a renamed
record or label cannot silently drop or double a number from the README.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from nobptt.errors import RecordError


@dataclass(frozen=True)
class Headline:
    system: str
    task: str  # the task and what the number is, as the table shows it
    file: str  # the record file
    metric: str
    paper: str  # the paper's number and where it comes from
    docs: str  # the docs page, relative to the repository root
    select: dict[str, Any] = field(default_factory=dict)  # more `nobptt results` filters (label, split, ...)
    note: str = ""  # what the number is: seeds, steps, hardware


def _args(headline: Headline) -> argparse.Namespace:
    from nobptt.records.tables import table_parser

    args = table_parser().parse_args(["--file", headline.file])
    for key, value in headline.select.items():
        setattr(args, key, [value] if key in ("label", "learner", "task", "experiment", "kind") else value)
    return args


def headline_cell(files: dict[str, dict[str, Any]], headline: Headline) -> str:
    from nobptt.records.tables import DAGGER, format_metric, metric_values, pinned, record_rows

    rows = record_rows(files, _args(headline))
    if len(rows) != 1:
        labels = sorted({r["label"] for r in rows})
        raise RecordError(f"headline {headline.system!r} on {headline.task!r}: its selection {headline.select} in "
                          f"{headline.file} matches {len(rows)} rows {labels}, not one (nobptt/records/headlines.py)")
    row = rows[0]
    values = metric_values(row, headline.metric)
    if not values:
        raise RecordError(f"headline {headline.system!r}: no {headline.metric!r} in {headline.file} row {row['label']!r}")
    text = format_metric(headline.metric, values)
    if not all(pinned(run) for run in row["runs"]):
        text += f" {DAGGER}"
    return text + (f" ({headline.note})" if headline.note else "")


def headlines_table(files: dict[str, dict[str, Any]]) -> str:
    from nobptt.records.tables import FOOTNOTE, markdown

    body = [[h.system, h.task, headline_cell(files, h), h.paper, f"[{h.docs.split('/')[-1]}]({h.docs})"]
            for h in HEADLINES]
    text = markdown(["system", "task (metric)", "ours", "paper", "docs"], body)
    return text + ("\n" + FOOTNOTE + "\n" if any("†" in row[2] for row in body) else "")


HEADLINES: list[Headline] = []  # filled below, after the records' labels are final
