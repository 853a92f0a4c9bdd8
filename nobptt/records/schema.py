"""The record format, schema 1 (docs/results.md): field checks that name the file and field path.

A check raises :class:`RecordError` with ``FILE: records[3].runs[0].training.commit: 'abc' is not
a 40-hex commit`` (file, field path, what is wrong), so a malformed record is never half-loaded.
"""
from __future__ import annotations

import math
import re
from typing import Any

from nobptt.errors import RecordError

SCHEMA = 1
KINDS = ("training", "evaluation", "lm_evaluation", "ngram", "measurement")
SPLITS = ("valid", "test")
# a metric name is one of these units, optionally preceded by qualifiers (``best_accuracy``)
UNITS = ("accuracy", "nll_nats", "bpc", "perplexity", "mse", "bce_nats", "sse", "wall_time_s", "steps_per_s",
         "samples_per_s", "bytes", "fraction")
COMMIT = re.compile(r"^[0-9a-f]{40}$")
PROVENANCE = ("command", "commit", "clean", "hardware", "device", "torch", "python", "wall_time_s")
# the one header of every benchmark CSV (docs/results.md), in this order
BENCH_HEADER = (
    "schema,kind,learner,task,T,scale,batch_size,steps,parameters,options,peak_rss_above_idle_bytes,"
    "persistent_bytes,saved_bytes,trace_bytes,trace_formula_bytes,train_steps_per_s,train_samples_per_s,train_flops_per_step,"
    "train_matmul_fraction,infer_steps_per_s,infer_samples_per_s,infer_flops_per_step,"
    "infer_matmul_fraction,matmul_flops_per_s,seconds_per_sequence,flush_denormal,seed,wall_time_s,"
    "command,commit,clean,device,hardware,torch,python,error").split(",")
# columns added by issue 39 (an online learner's traces, measured and by its formula); a CSV
# written before has the header without them and reads as if their cells were empty
BENCH_ADDED = ("trace_bytes", "trace_formula_bytes")
BENCH_HEADER_BEFORE = [c for c in BENCH_HEADER if c not in BENCH_ADDED]


def is_metric_name(name: str) -> bool:
    return any(name == unit or name.endswith("_" + unit) for unit in UNITS)


def is_commit(value: Any) -> bool:
    return isinstance(value, str) and bool(COMMIT.match(value))


class _Checker:
    """Walks one record file, keeping the field path for the error message."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, path: str, message: str) -> None:
        raise RecordError(f"{self.source}: {path}: {message}")

    def typed(self, obj: dict[str, Any], key: str, path: str, types: tuple[type, ...],
              required: bool = True, nullable: bool = False) -> Any:
        where = f"{path}.{key}" if path else key
        if key not in obj:
            if required:
                self.fail(where, "missing")
            return None
        value = obj[key]
        if value is None and nullable:
            return None
        if isinstance(value, bool) and bool not in types:
            self.fail(where, f"{value!r} is not {_names(types)}")
        if not isinstance(value, types):
            self.fail(where, f"{value!r} is not {_names(types)}" if not isinstance(value, (dict, list))
                      else f"a {type(value).__name__} is not {_names(types)}")
        return value

    def number(self, value: Any, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(where, f"{value!r} is not a finite number")

    def metrics(self, metrics: dict[str, Any], where: str, multi: bool) -> None:
        for name, value in metrics.items():
            at = f"{where}.{name}"
            if not is_metric_name(name):
                self.fail(at, f"metric name {name!r} carries no unit (allowed: {', '.join(UNITS)}, "
                          "optionally after qualifiers, e.g. best_accuracy)")
            if isinstance(value, dict) and multi:
                for key in ("mean", "std", "n", "values"):
                    if key not in value:
                        self.fail(f"{at}.{key}", "missing (several runs: {mean, std, n, values})")
                self.number(value["mean"], f"{at}.mean")
                self.number(value["std"], f"{at}.std")
                if not isinstance(value["values"], list) or value["n"] != len(value["values"]):
                    self.fail(f"{at}.n", f"{value['n']!r} does not count the {len(value['values'])} values")
                for i, v in enumerate(value["values"]):
                    self.number(v, f"{at}.values[{i}]")
            else:
                self.number(value, at)
            if name.endswith("accuracy") and not isinstance(value, dict) and not 0 <= value <= 1:
                self.fail(at, f"{value!r}: an accuracy is a fraction in [0, 1], never a percent")

    def provenance(self, obj: Any, where: str, evaluation: bool = False, resume: bool = False) -> None:
        if not isinstance(obj, dict):
            self.fail(where, f"{obj!r} is not an object")
        for key in ("command", "device", "torch", "python", "diff", "note"):
            self.typed(obj, key, where, (str,), required=False, nullable=True)
        commit = obj.get("commit")
        if "commit" not in obj:
            self.fail(f"{where}.commit", "missing (40 hex or null)")
        if commit is not None and not is_commit(commit):
            self.fail(f"{where}.commit", f"{commit!r} is not a 40-hex commit (null when unknown, "
                      "with the recorded text in note)")
        self.typed(obj, "clean", where, (bool,), required=True, nullable=True)
        if obj.get("clean") is True and commit is None:
            self.fail(f"{where}.clean", "true without a commit: a clean tree needs its commit")
        self.typed(obj, "hardware", where, (dict,), required=False, nullable=True)
        if obj.get("wall_time_s") is not None:
            self.number(obj["wall_time_s"], f"{where}.wall_time_s")
        if evaluation:
            if obj.get("split") not in SPLITS:
                self.fail(f"{where}.split", f"{obj.get('split')!r} is not one of {SPLITS}")
            return
        if resume:
            return
        resumed = self.typed(obj, "resumed", where, (list,), required=True, nullable=True) or []
        for i, resume in enumerate(resumed):
            self.provenance({"clean": None, **resume}, f"{where}.resumed[{i}]", resume=True)

    def record(self, record: Any, where: str) -> None:
        if not isinstance(record, dict):
            self.fail(where, f"{record!r} is not an object")
        if record.get("schema") != SCHEMA:
            self.fail(f"{where}.schema", f"{record.get('schema')!r} is not {SCHEMA}")
        if record.get("kind") not in KINDS:
            self.fail(f"{where}.kind", f"{record.get('kind')!r} is not one of {KINDS}")
        for key in ("label", "task", "learner"):
            self.typed(record, key, where, (str,))
        self.typed(record, "experiment", where, (str,), nullable=True)
        split = record.get("split")
        if "split" not in record or (split is not None and split not in SPLITS):
            self.fail(f"{where}.split", f"{split!r} is not one of {SPLITS} or null")
        runs = self.typed(record, "runs", where, (list,))
        if not runs:
            self.fail(f"{where}.runs", "empty: a record has at least one run")
        metrics = self.typed(record, "metrics", where, (dict,))
        self.metrics(metrics, f"{where}.metrics", multi=len(runs) > 1)
        for key in ("curves", "ceilings", "eval_ceilings", "details"):
            self.typed(record, key, where, (dict,), required=False)
        for name, rows in (record.get("curves") or {}).items():
            if not isinstance(rows, list) or not all(isinstance(r, dict) and "step" in r for r in rows):
                self.fail(f"{where}.curves.{name}", "is not a list of rows with a step")
        if split == "test" or "test_reads" in record:
            self.typed(record, "test_reads", where, (int,), required=split == "test", nullable=True)
        for i, run in enumerate(runs):
            self.run(run, f"{where}.runs[{i}]", record["kind"])

    def run(self, run: Any, where: str, kind: str) -> None:
        if not isinstance(run, dict):
            self.fail(where, f"{run!r} is not an object")
        self.typed(run, "seed", where, (int,), nullable=True)
        self.typed(run, "run_dir", where, (str,), nullable=True)
        self.typed(run, "config", where, (dict,), nullable=True)
        overrides = self.typed(run, "overrides", where, (list,))
        if not all(isinstance(o, str) for o in overrides):
            self.fail(f"{where}.overrides", f"{overrides!r} is not a list of strings")
        self.typed(run, "parameters", where, (int,), nullable=True)
        self.typed(run, "steps", where, (int,), nullable=True)
        self.typed(run, "costs", where, (dict,), required=False)
        self.metrics(self.typed(run, "metrics", where, (dict,)), f"{where}.metrics", multi=False)
        self.provenance(run.get("training"), f"{where}.training")
        evaluation = run.get("evaluation")
        if "evaluation" not in run:
            self.fail(f"{where}.evaluation", "missing (null for training records)")
        if evaluation is not None:
            self.provenance(evaluation, f"{where}.evaluation", evaluation=True)
        elif kind in ("evaluation", "lm_evaluation"):
            self.fail(f"{where}.evaluation", f"null in a {kind} record")


def _names(types: tuple[type, ...]) -> str:
    return " or ".join({"str": "a string", "int": "an integer", "float": "a number", "dict": "an object",
                        "list": "a list", "bool": "true/false"}[t.__name__] for t in types)


def check_file(data: Any, source: str, stem: str | None = None) -> dict[str, Any]:
    """Check a whole record file (``{"schema", "name", "note", "records"}``); return it unchanged."""
    check = _Checker(source)
    if not isinstance(data, dict):
        check.fail("(top level)", f"a {type(data).__name__}, not a record file object; files in an "
                   "older format are rewritten by `python -m nobptt.records.migrate`")
    if data.get("schema") != SCHEMA:
        check.fail("schema", f"{data.get('schema')!r} is not {SCHEMA}; files in an older format are "
                   "rewritten by `python -m nobptt.records.migrate`")
    name = check.typed(data, "name", "", (str,))
    if stem is not None and name != stem:
        check.fail("name", f"{name!r} is not the file's stem {stem!r}")
    check.typed(data, "note", "", (str,), required=False)
    records = check.typed(data, "records", "", (list,))
    for i, record in enumerate(records):
        check.record(record, f"records[{i}]")
    return data


def check_record(record: dict[str, Any], source: str = "record") -> dict[str, Any]:
    _Checker(source).record(record, "record")
    return record
