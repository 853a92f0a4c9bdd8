"""Tables from the record files (``nobptt results``), and the tables in README.md and docs/ that are
its output, between ``<!-- results: ARGS -->`` and ``<!-- /results -->`` (docs/results.md).

Rows: the runs of one config on one split (file, label, learner, task, experiment, split, eval
overrides) are one row, their metrics shown as mean +- sample std over runs (seeds). A row whose
code is not pinned (a run trained, resumed or evaluated from a dirty tree or an unknown commit) is
marked with a dagger and a footnote.
"""
from __future__ import annotations

import argparse
import re
import shlex
import statistics
from pathlib import Path
from typing import Any

from nobptt.errors import RecordError
from nobptt.records.io import load_all
from nobptt.records.rows import (DAGGER, FOOTNOTE, csv_text, format_metric, markdown, metric_values,  # noqa: F401
                                 pinned, record_rows, wanted)
from nobptt.records.costs import steps_per_update
from nobptt.records.labels import eval_length, updates

# metric columns in this order first, then any other in name order
METRIC_ORDER = ("accuracy", "best_accuracy", "prequential_accuracy", "best_prequential_accuracy", "nll_nats",
                "best_nll_nats", "bpc", "best_bpc", "perplexity", "best_perplexity", "mixture_perplexity", "mse",
                "best_mse", "bce_nats", "best_bce_nats", "sse", "best_sse", "wall_time_s")
# columns that are not metrics
FIELDS = ("label", "file", "kind", "task", "learner", "experiment", "split", "overrides", "n", "seeds", "steps",
          "parameters", "train_wall_time_s", "checkpoint", "T", "eval_T", "updates", "total_updates",
          "ms_per_step", "ms_per_update", "state_bytes")
# measured on each run by ``nobptt eval --out`` (nobptt.records.costs); mean over the row's runs
COST_FIELDS = ("ms_per_step", "ms_per_update", "state_bytes")
# read from each run's config (nobptt.records.labels): the trained and the tested length, the updates
# of the evaluated checkpoint and of the whole training budget (one per episode or window)
CONFIG_FIELDS = ("T", "eval_T", "updates", "total_updates")
BENCH_COLUMNS = ("learner", "T", "scale", "batch_size", "steps", "parameters", "peak_rss_above_idle_bytes",
                 "persistent_bytes", "saved_bytes", "trace_bytes", "trace_formula_bytes", "seconds_per_sequence",
                 "train_steps_per_s", "train_samples_per_s", "train_flops_per_step", "train_matmul_fraction", "infer_steps_per_s", "infer_samples_per_s",
                 "infer_matmul_fraction", "flush_denormal", "error")
HEADINGS = {"overrides": "eval overrides", "n": "runs", "train_wall_time_s": "training wall_time_s",
            "T": "trained at T", "eval_T": "tested at T", "updates": "updates (checkpoint)",
            "total_updates": "updates (training)", "ms_per_step": "ms per step (training)",
            "ms_per_update": "ms per update (training)", "state_bytes": "carried state"}


def human_bytes(value: float) -> str:
    """1,536 -> "1.5 kB": three significant figures in the largest unit below the value."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.0f} B"


def add_table_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", action="append", help="only this task (repeatable)")
    parser.add_argument("--learner", action="append", help="only this learner (repeatable)")
    parser.add_argument("--experiment", action="append", help="only this experiment (repeatable)")
    parser.add_argument("--split", choices=("valid", "test"), help="only this split")
    parser.add_argument("--kind", action="append", help="only this record kind (repeatable)")
    parser.add_argument("--file", action="append",
                        help="only this record file, by name (repeatable); bench_*.csv files only when named")
    parser.add_argument("--label", action="append", help="only rows with this label (repeatable)")
    parser.add_argument("--overrides", choices=("none", "only"),
                        help="none: rows without eval overrides; only: transfer rows with them")
    parser.add_argument("--columns", help="comma-separated columns: metric names and any of " + ", ".join(FIELDS))
    parser.add_argument("--format", choices=("markdown", "csv"), default="markdown")
    parser.add_argument("--headlines", action="store_true",
                        help="the status table: each system's headline number next to the paper's")
    parser.add_argument("--curve", metavar="METRIC",
                        help="the selected records' curves of this metric at equal steps, one column per record "
                             "(e.g. --curve heldout_perplexity; with two records, their difference too)")
    parser.add_argument("--per-seed", action="store_true",
                        help="with --curve: one column per seed's curve instead of each record's mean over its seeds")
    parser.add_argument("--experiments", action="store_true",
                        help="the reproduce table: every experiment's command, expected result and runtime")
    parser.add_argument("--docs", action="append", metavar="PAGE",
                        help="with --experiments: only the experiments whose header names this docs page "
                             "(e.g. docs/online.md; repeatable)")


def table_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nobptt results", add_help=False, exit_on_error=False)
    add_table_arguments(parser)
    return parser


def _field(row: dict[str, Any], name: str) -> Any:
    runs = row["runs"]
    if name == "n":
        return len(runs)
    if name == "seeds":
        return ",".join(str(r.get("seed")) for r in runs)
    if name in ("steps", "parameters"):
        values = sorted({r.get(name) for r in runs if r.get(name) is not None})
        return ",".join(str(v) for v in values)
    if name == "train_wall_time_s":
        values = [r["training"]["wall_time_s"] for r in runs if r["training"].get("wall_time_s") is not None]
        return statistics.fmean(values) if values else None
    if name == "checkpoint":
        return ",".join(sorted({str((r.get("evaluation") or {}).get("checkpoint")) for r in runs}))
    if name in COST_FIELDS:
        values = [v for r in runs if (v := _cost(r, name)) is not None]
        return statistics.fmean(values) if values else None
    if name in CONFIG_FIELDS:
        values = sorted({v for r in runs if (v := _config_field(r, name)) is not None})
        return ",".join(str(v) for v in values)
    return row.get(name)


def _cost(run: dict[str, Any], name: str) -> float | None:
    """One of COST_FIELDS for one run; None where its record has no measured costs."""
    costs = run.get("costs") or {}
    if name == "state_bytes":
        return costs.get("state_bytes")
    per_step = costs.get("train_s_per_step")
    if per_step is None:
        return None
    if name == "ms_per_step":
        return 1000 * per_step
    every = steps_per_update(run.get("config") or {})
    return None if every is None else 1000 * per_step * every


def _config_field(run: dict[str, Any], name: str) -> int | None:
    """One of CONFIG_FIELDS for one run; None where its config (or its evaluation's step) lacks it."""
    config = run.get("config") or {}
    if "task" not in config:
        return None
    if name == "T":
        return config["task"].get("T")
    if name == "eval_T":
        return eval_length(config)
    step = (run.get("evaluation") or {}).get("step") if name == "updates" else config.get("train", {}).get("steps")
    if step is None or "model" not in config:
        return None
    return updates(config, step)


def _columns(rows: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    if args.columns:
        return [c.strip() for c in args.columns.split(",") if c.strip()]
    columns = ["label", "learner"]
    for name in ("task", "split"):
        if len({r[name] for r in rows}) > 1:
            columns.append(name)
    if any(r["overrides"] for r in rows):
        columns.append("overrides")
    columns.append("n")
    names = {n for r in rows for run in r["runs"] for n in run.get("metrics", {})}
    return columns + [n for n in METRIC_ORDER if n in names] + sorted(names - set(METRIC_ORDER))


def _cell(row: dict[str, Any], column: str, fmt: str) -> list[str]:
    if column in FIELDS:
        value = _field(row, column)
        if column == "label" and fmt == "markdown" and not all(pinned(r) for r in row["runs"]):
            value = f"{value} {DAGGER}"
        if column == "train_wall_time_s" and value is not None:
            value = f"{value:.0f}"
        if column in ("ms_per_step", "ms_per_update") and value is not None and fmt == "markdown":
            value = f"{value:.3g}"
        if column == "state_bytes" and value is not None and fmt == "markdown":
            value = human_bytes(value)
        return ["" if value is None else str(value)]
    values = metric_values(row, column)
    if fmt == "csv":
        return ["" if not values else repr(statistics.fmean(values)),
                "" if len(values) < 2 else repr(statistics.stdev(values))]
    return [format_metric(column, values)]


def records_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    columns = _columns(rows, args)
    if args.format == "csv":
        header = [h for c in columns for h in ([c] if c in FIELDS else [c, f"{c}_std"])] + ["pinned"]
        body = [[x for c in columns for x in _cell(r, c, "csv")] + [str(all(pinned(run) for run in r["runs"])).lower()]
                for r in rows]
        return csv_text(header, body)
    body = [[x for c in columns for x in _cell(r, c, "markdown")] for r in rows]
    text = markdown([HEADINGS.get(c, c) for c in columns], body)
    if any(not all(pinned(run) for run in r["runs"]) for r in rows):
        text += "\n" + FOOTNOTE + "\n"
    return text


def bench_table(files: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    rows = [(name, row) for name, data in files.items() if "rows" in data and args.file and name in args.file
            for row in data["rows"] if wanted(args.learner, row["learner"]) and wanted(args.task, row["task"])]
    if args.columns:
        columns = [c.strip() for c in args.columns.split(",") if c.strip()]
    else:
        columns = [c for c in BENCH_COLUMNS if any(row.get(c) not in ("", None) for _, row in rows)]
    pinned = [row["clean"] == "true" and bool(row["commit"]) for _, row in rows]
    if args.format == "csv":
        return csv_text(columns + ["pinned"], [[row.get(c, "") for c in columns] + [str(p).lower()]
                                               for (_, row), p in zip(rows, pinned)])
    body = []
    for (_, row), ok in zip(rows, pinned):
        cells = [_bench_cell(c, row.get(c, "")) for c in columns]
        if cells and not ok:
            cells[0] = f"{cells[0]} {DAGGER}"
        body.append(cells)
    text = markdown(columns, body)
    return text + ("\n" + FOOTNOTE + "\n" if not all(pinned) else "")


def _bench_cell(column: str, text: str) -> str:
    if text == "" or column in ("learner", "T", "batch_size", "steps", "error", "flush_denormal"):
        return text.replace("|", "\\|").replace("\n", " ")
    value = float(text)
    if value.is_integer() and column in ("scale", "parameters") or column.endswith("flops_per_step"):
        return str(int(value))
    if column.endswith("fraction"):
        return f"{100 * value:.1f}%"
    if column.endswith("bytes"):
        return f"{value / 1e6:.1f} MB"
    return f"{value:.4g}"


def table(files: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    """The table (or, when bench CSVs are named too, the tables) the options select."""
    if args.headlines:
        from nobptt.records.headlines import headlines_table

        return headlines_table(files)
    if args.experiments:
        from nobptt.records.reproduce import experiments_table

        return experiments_table(args.docs)
    if args.curve:
        from nobptt.records.curve_table import curve_table

        return curve_table(files, args)
    parts = []
    rows = record_rows(files, args)
    if rows:
        parts.append(records_table(rows, args))
    if args.file and any("rows" in files.get(n, {}) for n in args.file):
        parts.append(bench_table(files, args))
    if not parts:
        raise RecordError("no record matches these options; `nobptt results` lists everything")
    return "\n".join(parts)


def table_from_args(args: argparse.Namespace | list[str], results_dir: Path) -> str:
    if isinstance(args, list):
        args = table_parser().parse_args(args)
    files = load_all(results_dir)
    for name in args.file or []:
        if name not in files:
            raise RecordError(f"--file {name}: no {name}.json or {name}.csv in {results_dir}")
    return table(files, args)


BLOCK = re.compile(r"(<!-- results:(?P<args>[^>]*?)-->\n)(?P<body>.*?)(<!-- /results -->)", re.DOTALL)
# a block shown as an example inside a fenced code block (docs/results.md) is not a table
FENCE = re.compile(r"^```.*?^```[^\n]*$", re.DOTALL | re.MULTILINE)


def _outside_fences(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for fence in FENCE.finditer(text):
        spans.append((start, fence.start()))
        start = fence.end()
    return spans + [(start, len(text))]


def _blocks_in(text: str) -> list[re.Match]:
    return [m for a, b in _outside_fences(text) for m in BLOCK.finditer(text, a, b)]


def doc_files(root: Path) -> list[Path]:
    return [p for p in [Path(root) / "README.md", *sorted((Path(root) / "docs").rglob("*.md"))] if p.exists()]


def blocks(root: Path, results_dir: Path) -> list[tuple[Path, str, str, str]]:
    """Every table block in README.md and docs/: (file, its ARGS, its text, the generated text)."""
    files = load_all(results_dir)
    found = []
    for path in doc_files(root):
        for match in _blocks_in(path.read_text()):
            argv = shlex.split(match["args"])
            try:
                args = table_parser().parse_args(argv)
            except (argparse.ArgumentError, SystemExit) as err:
                raise RecordError(f"{path}: <!-- results:{match['args']}-->: {err}") from err
            for name in args.file or []:
                if name not in files:
                    raise RecordError(f"{path}: <!-- results:{match['args']}-->: no record file {name}")
            found.append((path, match["args"].strip(), match["body"], table(files, args)))
    return found


def update_docs(root: Path, results_dir: Path) -> list[Path]:
    """Rewrite every block whose table differs from what the command generates; return those files."""
    files = load_all(results_dir)
    changed = []
    for path in doc_files(root):
        text = path.read_text()

        def fill(match: re.Match) -> str:
            try:
                args = table_parser().parse_args(shlex.split(match["args"]))
            except (argparse.ArgumentError, SystemExit) as err:
                raise RecordError(f"{path}: <!-- results:{match['args']}-->: {err}") from err
            return match[1] + table(files, args) + match[4]

        new, end = "", 0
        for match in _blocks_in(text):
            new, end = new + text[end:match.start()] + fill(match), match.end()
        new += text[end:]
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed
