"""Build schema-1 records from run folders and evaluations (docs/results.md)."""
from __future__ import annotations

import math
import re
import statistics
import time
from pathlib import Path
from typing import Any

from nobptt.progress import BITS_PER_CHARACTER_TASKS
from nobptt.records.labels import record_label
from nobptt.records.schema import SCHEMA, is_commit

# metrics.jsonl keys -> metric names that carry their unit
ROW_METRICS = {"heldout_accuracy": "accuracy", "heldout_nll": "nll_nats", "heldout_mse": "mse",
               "heldout_bce": "bce_nats", "heldout_sse": "sse",
               "prequential_accuracy": "prequential_accuracy",
               "heldout_gate_open": "gate_open_fraction"}  # the Phased LSTM's open fraction at inference
# for these, a larger value is better when picking the best row
HIGHER_IS_BETTER = ("accuracy",)
DIAGNOSTICS = ("gate_open_fraction",)  # measured, not scores: no "best" value


def split_commit(text: Any) -> tuple[str | None, bool | None, str | None]:
    """A recorded commit as ``(40-hex or None, clean, note)``.

    Older records wrote ``SHA-dirty`` for an uncommitted tree (the code is then not pinned:
    clean False, never pretended clean), and sometimes prose or short hashes (kept in the note)."""
    if text is None:
        return None, None, None
    text = str(text)
    if is_commit(text):
        return text, True, None
    if text.endswith("-dirty") and is_commit(text[:-len("-dirty")]):
        return text[:-len("-dirty")], False, None
    return None, None, f"commit as recorded: {text}"


def provenance_of(meta: dict[str, Any], wall_time_s: float | None = None, **extra: Any) -> dict[str, Any]:
    """Provenance fields from a run's config.json (or a resume entry, or an environment dict)."""
    commit, clean, note = split_commit(meta.get("commit"))
    if "clean" in meta and commit is not None and clean is not False:
        clean = meta["clean"]  # the tree's own check (None: it could not be checked)
    out = {"command": meta.get("command"), "commit": commit, "clean": clean, "diff": None,
           "hardware": meta.get("hardware"), "device": meta.get("device"), "torch": meta.get("torch"),
           "python": meta.get("python"), "wall_time_s": wall_time_s, **extra}
    if note:
        out["note"] = note
    return out


def resume_of(entry: dict[str, Any]) -> dict[str, Any]:
    prov = provenance_of(entry)
    keep = ("command", "commit", "clean", "hardware", "device", "torch", "note")
    return {"at_step": entry.get("at_step"), **{k: prov[k] for k in keep if k in prov}}


def training_provenance(meta: dict[str, Any], wall_time_s: float | None) -> dict[str, Any]:
    """A run folder's training provenance; its config.json lists resumes only once there is one."""
    return provenance_of(meta, wall_time_s, resumed=[resume_of(r) for r in meta.get("resumed", [])])


def learner_name(config: dict[str, Any]) -> str:
    """The registered learner name of a resolved config; the SAB baselines by their preset's name."""
    model = config.get("model", {})
    name = model.get("name", "unknown")
    if name != "sab":
        return name
    attention, k_trunc = model.get("attention", "sparse"), model.get("k_trunc", 5)
    if attention == "none" and k_trunc == 0:
        return "sab_lstm_bptt"
    if attention == "none" and k_trunc == 5:
        return "sab_lstm_tbptt5"
    if attention == "dense" and k_trunc == 0:
        return "sab_selfattn"
    return "sab"


def unit_metrics(row: dict[str, Any], task: str) -> dict[str, float]:
    """A metrics.jsonl row's metrics under unit names; char-PTB adds bpc, word-PTB perplexity."""
    out = {ROW_METRICS[k]: v for k, v in row.items() if k in ROW_METRICS and v is not None}
    if "nll_nats" in out:
        if task in BITS_PER_CHARACTER_TASKS:
            out["bpc"] = out["nll_nats"] / math.log(2)
        elif task == "ptb_word":
            out["perplexity"] = math.exp(out["nll_nats"])
    return out


def aggregate(per_run: list[dict[str, float]]) -> dict[str, Any]:
    """The record's metrics: one run's own, or for several ``{mean, std, n, values}`` (sample std)."""
    if len(per_run) == 1:
        return dict(per_run[0])
    names = [n for n in per_run[0] if all(n in m for m in per_run)]
    return {n: spread([m[n] for m in per_run]) for n in names}


def spread(values: list[float]) -> dict[str, Any]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values), "values": list(values)}


def training_metrics(rows: list[dict[str, Any]], task: str) -> dict[str, float]:
    """Last and best of each logged metric (best: highest accuracy, lowest loss)."""
    out: dict[str, float] = {}
    for key, name in ROW_METRICS.items():
        values = [r[key] for r in rows if r.get(key) is not None]
        if not values:
            continue
        best = max(values) if name.endswith(HIGHER_IS_BETTER) else min(values)
        out.update(unit_metrics({key: values[-1]}, task))
        if name in DIAGNOSTICS:
            continue
        out.update({f"best_{k}": v for k, v in unit_metrics({key: best}, task).items()})
    return out


def curve_key(seed: Any, taken: dict[str, Any]) -> str:
    key = f"seed{seed}"
    n = 2
    while key in taken:
        key, n = f"seed{seed}-{n}", n + 1
    return key


def training_record(runs: list[dict[str, Any]], label: str, note: str = "") -> dict[str, Any]:
    """One record of a config's runs (seeds). Each entry of ``runs``: ``{"run_dir", "meta", "rows"}``,
    ``meta`` the run's config.json, ``rows`` its metrics.jsonl."""
    first = runs[0]["meta"]
    task = first["config"]["task"]["name"]
    entries, curves, reached = [], {}, []
    for run in runs:
        meta, rows = run["meta"], run["rows"]
        metrics = training_metrics(rows, task)
        entries.append({"seed": meta["config"]["train"]["seed"], "run_dir": str(run["run_dir"]),
                        "config": meta["config"], "overrides": [], "parameters": meta.get("parameters"),
                        "steps": rows[-1]["step"] if rows else 0, "metrics": metrics,
                        "training": training_provenance(meta, rows[-1]["wall_time_s"] if rows else None),
                        "evaluation": None})
        curves[curve_key(entries[-1]["seed"], curves)] = rows
        reached.append(first_reached(rows))
    record = {"schema": SCHEMA, "kind": "training", "label": label, "task": task,
              "learner": learner_name(first["config"]), "experiment": first.get("experiment"),
              "split": "valid", "metrics": aggregate([e["metrics"] for e in entries]), "curves": curves,
              "ceilings": first.get("ceilings", {}), "details": {}, "runs": entries}
    if any(reached):
        record["details"]["first_reached_prequential"] = reached
    if note:
        record["details"]["note"] = note
    return record


def first_reached(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first step (and wall time) the prequential accuracy reached 80, 85, 88 and 88.5%."""
    epochs = [r for r in rows if "prequential_accuracy" in r]
    if not epochs:
        return None
    out = {}
    for threshold in (0.80, 0.85, 0.88, 0.885):
        hit = next((r for r in epochs if r["prequential_accuracy"] >= threshold), None)
        out[f"{threshold:.3f}"] = {"step": hit["step"], "wall_time_s": hit["wall_time_s"]} if hit else None
    return out


def evaluation_provenance(command: str, checkpoint: str, step: int, split: str, seconds: float | None,
                          machine: dict[str, Any], writing: dict[str, Any]) -> dict[str, Any]:
    """Where and from what code an evaluation ran; ``writing`` is :func:`provenance.writing_provenance`."""
    return {"command": command, "checkpoint": checkpoint, "step": step, "split": split,
            "at": time.strftime("%Y-%m-%dT%H:%M:%S"), "wall_time_s": None if seconds is None else round(seconds, 2),
            "commit": writing["commit"], "clean": writing["clean"], "diff": writing["diff"],
            "hardware": machine.get("hardware"), "device": machine.get("device"),
            "torch": machine.get("torch"), "python": machine.get("python")}


def run_label(run_dir: str | Path) -> str:
    """A run folder's name without its seed (``copying_sab_T100_s2_u32500`` -> ``copying_sab_T100_u32500``),
    so the seeds of one config share a label and a table row."""
    return re.sub(r"_s\d+(?=_|$)", "", Path(str(run_dir)).name)


def evaluation_record(run_dir: Path, meta: dict[str, Any], rows: list[dict[str, Any]], config: dict[str, Any],
                      evaluation: dict[str, Any], metrics: dict[str, float], overrides: list[str],
                      eval_ceilings: dict[str, float] | None = None, details: dict[str, Any] | None = None,
                      test_reads: int | None = None, label: str | None = None,
                      costs: dict[str, Any] | None = None) -> dict[str, Any]:
    """One evaluation of one run's checkpoint (``nobptt eval``); ``metrics`` under unit names;
    ``costs`` the run's measured time per step and state bytes (nobptt.records.costs)."""
    task = config["task"]["name"]
    run = {"seed": config["train"]["seed"], "run_dir": str(run_dir), "config": config, "overrides": list(overrides),
           "parameters": meta.get("parameters"), "steps": rows[-1]["step"] if rows else None, "metrics": metrics,
           "training": training_provenance(meta, rows[-1]["wall_time_s"] if rows else None),
           "evaluation": evaluation}
    if costs:
        run["costs"] = dict(costs)
    record = {"schema": SCHEMA, "kind": "evaluation", "label": label or record_label(config, meta.get("experiment")), "task": task,
              "learner": learner_name(config), "experiment": meta.get("experiment"), "split": evaluation["split"],
              "metrics": dict(metrics), "ceilings": meta.get("ceilings", {}), "eval_ceilings": eval_ceilings or {},
              "curves": {curve_key(run["seed"], {}): held_out_rows(rows)}, "details": details or {},
              "runs": [run]}
    if evaluation["split"] == "test":
        record["test_reads"] = test_reads
    return record


def held_out_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: r[k] for k in r if k in ("step", "wall_time_s") or k.startswith("heldout")}
            for r in rows if any(k.startswith("heldout") for k in r)]


# older benchmark field names -> the one header's (docs/results.md)
BENCH_RENAMES = {"peak_rss_above_idle": "peak_rss_above_idle_bytes", "seconds": "seconds_per_sequence",
                 "wall_seconds": "wall_time_s"}
# measured, but without a column in the one header: dropped (cuda_peak_bytes: GPU runs only)
BENCH_UNHEADED = ("cuda_peak_bytes",)


def bench_row(row: dict[str, Any], kind: str) -> dict[str, Any]:
    """A benchmark row under the one header: renamed fields, ``SHA-dirty`` split into commit and
    clean, ``name`` (the configuration asked for, on rows that failed) folded into ``learner``."""
    out = {BENCH_RENAMES.get(k, k): v for k, v in row.items() if k not in BENCH_UNHEADED}
    name = out.pop("name", None)
    if not out.get("learner"):
        out["learner"] = name
    if "commit" in out:
        commit, clean, note = split_commit(out["commit"] or None)
        out["commit"] = commit
        if out.get("clean") in (None, ""):
            out["clean"] = clean
        elif clean is False:
            out["clean"] = False
        if note:
            out["error"] = "; ".join(filter(None, [out.get("error"), note]))
    if out.get("flush_denormal") in ("True", "False"):  # older CSVs wrote Python's spelling
        out["flush_denormal"] = out["flush_denormal"].lower()
    out.update(schema=SCHEMA, kind=kind)
    out.setdefault("task", "synthetic")  # random ssMNIST-shaped input (nobptt/bench/memory.py)
    return out


def denormal_records(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The measurement records of ``nobptt bench denormals``: full BPTT (the ``sab_lstm_bptt`` preset)
    with denormal flushing off and on, 10 training updates on adding T = 400 (wall time and the
    held-out MSE after them) and one 10^4-step sequence in ``nobptt bench memory``'s harness."""
    records = []
    machine = {k: data.get(k) for k in ("commit", "hardware", "device", "torch", "python")}
    script = {"command": data.get("command"), "wall_time_s": data.get("wall_time_s")}
    for row in data["training_10_updates"]:
        flush = row["flush_denormal"]
        metrics = {"wall_time_s": row.get("wall_time_s", row.get("wall_seconds")), "mse": row["heldout_mse"]}
        records.append(_measurement(f"10 updates of full BPTT, adding T=400, flush_denormal={str(flush).lower()}",
                                    "adding", "adding_sab", "valid", 1, data.get("train_command"), machine,
                                    metrics, {"flush_denormal": flush, "script": script}))
    for row in data["bench_lstm_bptt_T10000"]:
        flush = row["flush_denormal"]
        metrics = {"sequence_wall_time_s": row["seconds_per_sequence"]}
        records.append(_measurement(f"one T=10^4 sequence of full BPTT (bench harness), "
                                    f"flush_denormal={str(flush).lower()}", "synthetic", None, None, 0,
                                    data.get("command"), machine, metrics, {"flush_denormal": flush, "script": script}))
    return records


def _measurement(label: str, task: str, experiment: str | None, split: str | None, seed: int, command: str | None,
                 machine: dict[str, Any], metrics: dict[str, float], details: dict[str, Any]) -> dict[str, Any]:
    training = provenance_of({**machine, "command": command}, metrics.get("wall_time_s"), resumed=[])
    run = {"seed": seed, "run_dir": None, "config": None, "overrides": [], "parameters": None, "steps": None,
           "metrics": dict(metrics), "training": training, "evaluation": None}
    return {"schema": SCHEMA, "kind": "measurement", "label": label, "task": task, "learner": "sab_lstm_bptt",
            "experiment": experiment, "split": split, "metrics": metrics, "details": details, "runs": [run]}
