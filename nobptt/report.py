"""Record finished runs as ``results/NAME.json`` + ``results/NAME.png`` (one run per seed).

The JSON carries everything needed to trust and reproduce the number: the command, the resolved
config, the seeds, the code commit, torch version, hardware and wall time; headline metrics are
given per seed and as mean and standard deviation over seeds.
"""
from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nobptt.environment import environment
from nobptt.run import read_run_config
from nobptt.train.checkpoint import save_json
from nobptt.train.metrics import MetricsLog

HEADLINES = ("prequential_accuracy", "heldout_accuracy")

try:
    import fcntl
except ImportError:  # not on Windows: appends there are atomic but not serialized
    fcntl = None


def run_summary(run_dir: Path) -> dict[str, Any]:
    meta = read_run_config(run_dir)
    rows = MetricsLog(Path(run_dir) / "metrics.jsonl").rows()
    if not rows:
        raise FileNotFoundError(f"{run_dir}/metrics.jsonl is empty: the run logged nothing yet")
    epochs = [r for r in rows if "prequential_accuracy" in r]
    heldout = [r for r in rows if "heldout_accuracy" in r]
    metrics = {
        "prequential_accuracy": epochs[-1]["prequential_accuracy"] if epochs else None,
        "prequential_accuracy_best": max((r["prequential_accuracy"] for r in epochs), default=None),
        "heldout_accuracy": heldout[-1]["heldout_accuracy"] if heldout else None,
        "heldout_accuracy_best": max((r["heldout_accuracy"] for r in heldout), default=None),
    }
    first_at = {}
    for threshold in (0.80, 0.85, 0.88, 0.885):
        hit = next((r for r in epochs if r["prequential_accuracy"] >= threshold), None)
        first_at[f"{threshold:.3f}"] = {"step": hit["step"], "wall_time_s": hit["wall_time_s"]} if hit else None
    return {"run_dir": str(run_dir), "meta": meta, "rows": rows, "metrics": metrics,
            "steps": rows[-1]["step"], "wall_time_s": rows[-1]["wall_time_s"],
            "first_reached_prequential": first_at}


def _spread(values: list[float]) -> dict[str, Any]:
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "std": None, "per_seed": []}
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "per_seed": values}


def record_result(run_dirs: list[Path], name: str, out_dir: Path, note: str = "",
                  labels: list[str] | None = None) -> Path:
    """Write ``out_dir/NAME.json`` and ``NAME.png``. Runs are seeds of one config, or, with
    ``labels``, different configs shown side by side (metrics are then listed per run)."""
    runs = [run_summary(d) for d in run_dirs]
    if labels is not None and len(labels) != len(runs):
        raise ValueError(f"{len(labels)} labels for {len(runs)} runs")
    first = runs[0]["meta"]
    metric_names = runs[0]["metrics"].keys()
    result = {
        "experiment": first["experiment"] if labels is None else [r["meta"]["experiment"] for r in runs],
        "name": name,
        "labels": labels,
        "command": [r["meta"]["command"] for r in runs],
        "config": first["config"] if labels is None else [r["meta"]["config"] for r in runs],
        "seeds": [r["meta"]["config"]["train"]["seed"] for r in runs],
        "steps": [r["steps"] for r in runs],
        "wall_time_s": [r["wall_time_s"] for r in runs],
        "metrics": {m: _spread([r["metrics"][m] for r in runs]) for m in metric_names},
        "hardware_per_run": [r["meta"].get("hardware") for r in runs],
        "first_reached_prequential": [r["first_reached_prequential"] for r in runs],
        "ceilings": first.get("ceilings", {}),
        "parameters": first.get("parameters"),
        "hardware": first.get("hardware"),
        "device": first.get("device"),
        "torch": first.get("torch"),
        "commit": first.get("commit"),
        "note": note,
        "run_dirs": [r["run_dir"] for r in runs],
        "curves": [{"seed": r["meta"]["config"]["train"]["seed"], "rows": r["rows"]} for r in runs],
    }
    path = out_dir / f"{name}.json"
    save_json(result, path, indent=1)
    plot_curves([runs_to_curve(r) for r in runs], result["ceilings"], path.with_suffix(".png"), name, labels)
    return path


def runs_to_curve(run: dict[str, Any]) -> dict[str, Any]:
    rows = [r for r in run["rows"] if "prequential_accuracy" in r]
    held = [r for r in run["rows"] if "heldout_accuracy" in r]
    return {"seed": run["meta"]["config"]["train"]["seed"],
            "step": [r["step"] for r in rows], "time": [r["wall_time_s"] for r in rows],
            "acc": [r["prequential_accuracy"] for r in rows],
            "held_step": [r["step"] for r in held], "held_time": [r["wall_time_s"] for r in held],
            "held_acc": [r["heldout_accuracy"] for r in held]}


def plot_curves(curves: list[dict[str, Any]], ceilings: dict[str, float], path: Path, title: str,
                labels: list[str] | None = None) -> None:
    """Accuracy vs batches and vs wall seconds, with the Bayes ceiling drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for i, curve in enumerate(curves):
        label = labels[i] if labels else f"seed {curve['seed']}"
        for ax, x, hx in ((axes[0], "step", "held_step"), (axes[1], "time", "held_time")):
            line, = ax.plot(curve[x], [100 * a for a in curve["acc"]], lw=1, label=f"{label} prequential")
            if curve["held_acc"]:
                ax.plot(curve[hx], [100 * a for a in curve["held_acc"]], "o--", ms=3, color=line.get_color(),
                        label=f"{label} held-out")
    for ax, xlabel in zip(axes, ("batches (time steps)", "training wall time (s)")):
        if "bayes" in ceilings:
            ax.axhline(100 * ceilings["bayes"], color="k", ls=":", lw=1,
                       label=f"Bayes ceiling {100 * ceilings['bayes']:.2f}%")
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("next-label accuracy (%)")
    axes[0].set_ylim(0, 100)
    axes[1].legend(fontsize=7, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def append_eval_record(path: Path, run_dir: Path, meta: dict[str, Any], config: dict[str, Any], command: str,
                       checkpoint: str, step: int, split: str, metrics: dict[str, float], seconds: float,
                       overrides: list[str], eval_ceilings: dict[str, float] | None = None,
                       breakdown: dict[str, Any] | None = None) -> Path:
    """Add one evaluation of a run's checkpoint to the JSON list at ``path`` (written atomically),
    replacing an earlier record of the same run, checkpoint, split and overrides. The record's
    "ceilings" are the training stream's reference levels, its "eval_ceilings" (``eval_ceilings``)
    those of the evaluated stream; "breakdown", when given, where the errors fall
    (``nobptt.diagnostics.copying_breakdown``)."""
    rows = MetricsLog(Path(run_dir) / "metrics.jsonl").rows()
    record = {
        "run_dir": str(run_dir), "experiment": meta.get("experiment"), "train_command": meta.get("command"),
        "train_resumed": meta.get("resumed", []),
        "eval_command": command, "config": config, "seed": config["train"]["seed"], "checkpoint": checkpoint,
        "step": step, "split": split, "overrides": overrides, "metrics": metrics,
        "ceilings": meta.get("ceilings", {}), "eval_ceilings": eval_ceilings or {},
        **({"breakdown": breakdown} if breakdown else {}),
        "parameters": meta.get("parameters"), "train_wall_time_s": rows[-1]["wall_time_s"] if rows else None,
        "eval_wall_time_s": round(seconds, 2),
        "trained_on": {k: meta.get(k) for k in ("hardware", "device", "torch", "commit")},
        "evaluated_on": environment(config["train"]["device"]),
        "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "heldout_curve": [{k: r[k] for k in r if k == "step" or k == "wall_time_s" or k.startswith("heldout")}
                          for r in rows if any(k.startswith("heldout") for k in r)],
    }
    return add_record(Path(path), record, key=("run_dir", "checkpoint", "split", "overrides"))


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (flock on the directory itself, so no lock file is left
    behind). The SAB scripts run two jobs side by side that append to one results file; without
    it both could read the old list, and the second write would drop the first's record."""
    folder.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def add_record(path: Path, record: dict[str, Any], key: tuple[str, ...]) -> Path:
    """Append ``record`` to the JSON list at ``path``, replacing a record that agrees with it on every
    field in ``key``; the read and the (atomic) write happen under one lock on the folder."""
    with folder_lock(path.parent):
        records = json.loads(path.read_text()) if path.exists() else []
        same = tuple(record[k] for k in key)
        records = [r for r in records if tuple(r.get(k) for k in key) != same] + [record]
        save_json(records, path, indent=1)
    return path
