"""The one-time migration of ``results/`` from the formats before schema 1 (docs/results.md).

``python -m nobptt.records.migrate [FOLDER]`` (or ``nobptt results --migrate``) rewrites every older
file in FOLDER (default ``results``), keeping every number:

- JSON: the ``nobptt report`` dict, the ``nobptt eval --out`` list, the ``nobptt lm evaluate``
  dict, the Kneser-Ney dict and the denormal-timing dict;
- CSV: the benchmark headers, rewritten into the one header.

What the older formats did not record stays unknown (null), never guessed: a commit recorded as
``SHA-dirty`` becomes ``commit: SHA, clean: false, diff: null``; prose or a short hash becomes
``commit: null`` with the text in ``note``; the report format kept only its first run's commit,
device and torch, so the other runs' are null.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from nobptt.errors import RecordError
from nobptt.records.build import (bench_row, curve_key, denormal_records, learner_name, provenance_of, resume_of,
                                  split_commit, unit_metrics)
from nobptt.records.io import bench_csv_text, write_file, write_text
from nobptt.records.labels import record_label
from nobptt.records.schema import BENCH_HEADER, SCHEMA, check_file

TRAINING_METRICS = {"heldout_accuracy": "accuracy", "heldout_accuracy_best": "best_accuracy",
                    "prequential_accuracy": "prequential_accuracy",
                    "prequential_accuracy_best": "best_prequential_accuracy"}


def legacy_shape(data: Any) -> str:
    """Which older format ``data`` is: report, eval, lm_evaluate, kn5, denormals (or schema1)."""
    if isinstance(data, dict) and "schema" in data:
        return "schema1"
    if isinstance(data, list):
        return "eval"
    if isinstance(data, dict):
        if "seeds" in data and "curves" in data:
            return "report"
        if "mixture" in data and "curve" in data:
            return "lm_evaluate"
        if "discounts" in data:
            return "kn5"
        if "training_10_updates" in data:
            return "denormals"
    raise RecordError("not one of the older formats (report, eval list, lm evaluate, kn5, denormals)")


def migrate_json(name: str, data: Any) -> dict[str, Any]:
    """The schema-1 record file of an older JSON file named ``name``."""
    shape = legacy_shape(data)
    if shape == "schema1":
        return data
    records, note = {"report": from_report, "eval": from_eval, "lm_evaluate": from_lm, "kn5": from_kn5,
                     "denormals": from_denormals}[shape](data, name)
    return check_file({"schema": SCHEMA, "name": name, "note": note, "records": records}, f"{name}.json", name)


def from_report(data: dict[str, Any], name: str) -> tuple[list[dict[str, Any]], str]:
    labels = data.get("labels")
    n = len(data["run_dirs"])
    configs = data["config"] if labels else [data["config"]] * n
    experiments = data["experiment"] if labels else [data["experiment"]] * n
    runs = []
    for i in range(n):
        # the report format kept the first run's commit, device and torch only
        first = {"commit": data.get("commit"), "device": data.get("device"), "torch": data.get("torch")} \
            if i == 0 else {}
        training = provenance_of({"command": data["command"][i], "hardware": data["hardware_per_run"][i], **first},
                                 data["wall_time_s"][i], resumed=None)
        if i > 0:
            sha, clean, _ = split_commit(data.get("commit"))
            tree = {True: "a clean tree", False: "a tree with uncommitted changes"}.get(clean, "an unknown tree")
            training["note"] = (f"the report format recorded only its first run's commit ({sha}, from {tree}), "
                                "device and torch; this run's are unknown")
        runs.append({"seed": data["seeds"][i], "run_dir": data["run_dirs"][i], "config": configs[i], "overrides": [],
                     "parameters": data.get("parameters") if (i == 0 or not labels) else None,
                     "steps": data["steps"][i],
                     "metrics": {new: data["metrics"][old]["per_seed"][i] for old, new in TRAINING_METRICS.items()
                                 if old in data["metrics"] and data["metrics"][old]["per_seed"]},
                     "training": training, "evaluation": None})

    def record(indices: list[int], label: str) -> dict[str, Any]:
        first = indices[0]
        if len(indices) == 1:
            metrics = dict(runs[first]["metrics"])
        else:
            metrics = {new: {"mean": data["metrics"][old]["mean"], "std": data["metrics"][old]["std"], "n": n,
                             "values": data["metrics"][old]["per_seed"]}
                       for old, new in TRAINING_METRICS.items() if old in data["metrics"]}
        curves: dict[str, Any] = {}
        for i in indices:
            curves[curve_key(data["curves"][i]["seed"], curves)] = data["curves"][i]["rows"]
        return {"schema": SCHEMA, "kind": "training", "label": label, "task": configs[first]["task"]["name"],
                "learner": learner_name(configs[first]), "experiment": experiments[first], "split": "valid",
                "metrics": metrics, "curves": curves, "ceilings": data.get("ceilings", {}),
                "details": {"first_reached_prequential": [data["first_reached_prequential"][i] for i in indices]},
                "runs": [runs[i] for i in indices]}

    if not labels:
        return [record(list(range(n)), record_label(configs[0], experiments[0]))], data.get("note", "")
    records = [record([i], label) for i, label in enumerate(labels)]
    # the older format averaged different configs side by side; kept as recorded, not as a metric
    records[0]["details"]["summary_over_labels_as_recorded"] = {
        TRAINING_METRICS.get(k, k): {"mean": v["mean"], "std": v["std"]} for k, v in data["metrics"].items()}
    return records, data.get("note", "")


def from_eval(data: list[dict[str, Any]], name: str) -> tuple[list[dict[str, Any]], str]:
    records = []
    for x in data:
        config, task = x["config"], x["config"]["task"]["name"]
        split = "valid" if x["split"] == "heldout" else x["split"]
        resumed = [resume_of(r) for r in x["train_resumed"]] if "train_resumed" in x else None
        training = provenance_of({"command": x.get("train_command"), **x.get("trained_on", {})},
                                 x.get("train_wall_time_s"), resumed=resumed)
        evaluation = {**provenance_of({"command": x.get("eval_command"), **x.get("evaluated_on", {})},
                                      x.get("eval_wall_time_s")),
                      "checkpoint": x.get("checkpoint"), "step": x.get("step"), "split": split,
                      "at": x.get("evaluated_at")}
        metrics = unit_metrics(x["metrics"], task)
        run = {"seed": x.get("seed"), "run_dir": x.get("run_dir"), "config": config, "overrides": x.get("overrides", []),
               "parameters": x.get("parameters"), "steps": None, "metrics": dict(metrics), "training": training,
               "evaluation": evaluation}
        record = {"schema": SCHEMA, "kind": "evaluation", "label": record_label(config, x.get("experiment")), "task": task,
                  "learner": learner_name(config), "experiment": x.get("experiment"), "split": split,
                  "metrics": metrics, "curves": {curve_key(x.get("seed"), {}): x.get("heldout_curve", [])},
                  "ceilings": x.get("ceilings", {}), "details": {}, "runs": [run]}
        if "eval_ceilings" in x:
            record["eval_ceilings"] = x["eval_ceilings"]
        if "breakdown" in x:
            record["details"]["breakdown"] = x["breakdown"]
        if split == "test":
            record["test_reads"] = None  # not counted before schema 1
        records.append(record)
    return records, ""


# The older lm records were labelled by their run folder; these say what each run was (docs/ptb.md).
LM_LABELS = {
    "ptb_brsm_full": "bRSM, the paper's schedule",
    "ptb_brsm_cpu30k": "bRSM, budget schedule (50k steps)",
    "ptb_brsm_abl_binary": "bRSM budget, ablation: binary embedding",
    "ptb_brsm_abl_nonflat": "bRSM budget, ablation: 600 groups x 3 cells",
    "ptb_brsm_abl_inhibition": "bRSM budget, ablation: inhibition, no boosting",
    "ptb_brsm_abl_static": "bRSM budget, ablation: fixed trace decay",
    "ptb_lstm_small": "LSTM 2x200, random-offset streams",
    "ptb_lstm_small_contiguous": "LSTM 2x200 (Zaremba small), contiguous streams",
}


def from_lm(data: dict[str, Any], name: str) -> tuple[list[dict[str, Any]], str]:
    from nobptt.lm.record import lm_records

    commit, clean, _ = split_commit(data.get("commit"))
    records = lm_records(data, data["training"], data["curve"], {"commit": commit, "clean": clean, "diff": None},
                         None)
    for record in records:
        record["test_reads"] = None if record["split"] == "test" else record.get("test_reads")
        if record["split"] != "test":
            record.pop("test_reads", None)
        run = record["runs"][0]
        run["evaluation"]["at"] = None  # not recorded before schema 1
        run["training"]["wall_time_s"] = data.get("training_wall_time_s")
        run["training"]["resumed"] = None  # the older lm record dropped the resumes: unknown
        run["steps"] = data.get("training_steps")
        record["label"] = LM_LABELS.get(name, record["label"])
    return records, ""


def from_kn5(data: dict[str, Any], name: str) -> tuple[list[dict[str, Any]], str]:
    from nobptt.lm.ngram import ngram_records

    commit, clean, _ = split_commit(data.get("commit"))
    return ngram_records(data, {"commit": commit, "clean": clean, "diff": None}), ""


def from_denormals(data: dict[str, Any], name: str) -> tuple[list[dict[str, Any]], str]:
    return denormal_records(data), ""


def migrate_csv(text: str) -> str:
    """An older benchmark CSV rewritten into the one header (cells kept as written)."""
    rows = list(csv.DictReader(io.StringIO(text)))
    header = text.splitlines()[0].split(",")
    kind = "memory" if "peak_rss_above_idle" in header else "speed"
    # a schema-1 file (kind in each row) only lacks the columns added since: cells kept, kind kept
    return bench_csv_text([bench_row({k: v for k, v in row.items() if k not in ("schema", "kind")},
                                     row.get("kind") or kind) for row in rows])


def migrate_folder(folder: Path) -> list[str]:
    """Rewrite every older record file in ``folder``; return one line per file."""
    lines = []
    for path in sorted(Path(folder).glob("*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and data.get("schema") == SCHEMA:
            lines.append(f"{path}: already schema {SCHEMA}")
            continue
        write_file(path, migrate_json(path.stem, data))
        lines.append(f"{path}: migrated ({legacy_shape(data)})")
    for path in sorted(Path(folder).glob("bench_*.csv")):
        text = path.read_text()
        if text.splitlines()[0].split(",") == BENCH_HEADER:
            lines.append(f"{path}: already the one header")
            continue
        write_text(path, migrate_csv(text))
        lines.append(f"{path}: migrated (benchmark CSV)")
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for line in migrate_folder(Path(argv[0] if argv else "results")):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
