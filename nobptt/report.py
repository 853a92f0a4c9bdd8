"""Record finished runs as ``reports/NAME.json`` + ``NAME.png`` (one run per seed), schema 1
(docs/results.md): one ``training`` record per config, each run with its own provenance (command,
commit, clean tree, hardware, wall time, resumes), metrics per run and as mean and std over seeds.

Writers default to a user folder (``reports/``); writing into the tracked ``results/`` is explicit.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from nobptt.errors import RecordError
from nobptt.records.build import training_record
from nobptt.records.labels import record_label
from nobptt.records.io import add_records, folder_lock, write_file
from nobptt.records.provenance import check_trained_clean, writing_provenance
from nobptt.records.schema import SCHEMA
from nobptt.run import read_run_config
from nobptt.train.metrics import MetricsLog

__all__ = ["append_eval_record", "folder_lock", "record_result", "run_summary"]


def run_summary(run_dir: Path) -> dict[str, Any]:
    """A run folder's config.json (``meta``) and metrics.jsonl rows."""
    meta = read_run_config(run_dir)
    rows = MetricsLog(Path(run_dir) / "metrics.jsonl").rows()
    if not rows:
        raise FileNotFoundError(f"{run_dir}/metrics.jsonl is empty: the run logged nothing yet")
    return {"run_dir": str(run_dir), "meta": meta, "rows": rows}


def record_result(run_dirs: list[Path], name: str, out_dir: Path, note: str = "",
                  labels: list[str] | None = None, allow_dirty: bool = False) -> Path:
    """Write ``out_dir/NAME.json`` and ``NAME.png``. Runs are seeds of one config (one record), or,
    with ``labels``, different configs shown side by side (one record each)."""
    runs = [run_summary(d) for d in run_dirs]
    if labels is not None and len(labels) != len(runs):
        raise RecordError(f"--labels: {len(labels)} labels for {len(runs)} runs")
    groups = [[r] for r in runs] if labels is not None else [runs]
    records = [training_record(group, labels[i] if labels else record_label(group[0]["meta"]["config"], group[0]["meta"].get("experiment")))
               for i, group in enumerate(groups)]
    check_trained_clean([run for record in records for run in record["runs"]], allow_dirty)
    writing = writing_provenance(out_dir, name, allow_dirty)
    for record in records:
        record["details"]["recorded_from"] = writing
    path = Path(out_dir) / f"{name}.json"
    write_file(path, {"schema": SCHEMA, "name": name, "note": note, "records": records})
    curves = [runs_to_curve(r) for r in runs]
    plot_curves(curves, records[0].get("ceilings", {}), path.with_suffix(".png"), name, labels)
    return path


def runs_to_curve(run: dict[str, Any]) -> dict[str, Any]:
    # a video task (Bernoulli targets) has no accuracy: its curves are the BCE per frame
    train_key, held_key = ("bce", "heldout_bce") if any("heldout_bce" in r for r in run["rows"]) \
        else ("prequential_accuracy", "heldout_accuracy")
    rows = [r for r in run["rows"] if train_key in r]
    held = [r for r in run["rows"] if held_key in r]
    return {"seed": run["meta"]["config"]["train"]["seed"], "unit": "bce" if train_key == "bce" else "accuracy",
            "step": [r["step"] for r in rows], "time": [r["wall_time_s"] for r in rows],
            "acc": [r[train_key] for r in rows],
            "held_step": [r["step"] for r in held], "held_time": [r["wall_time_s"] for r in held],
            "held_acc": [r[held_key] for r in held]}


def plot_curves(curves: list[dict[str, Any]], ceilings: dict[str, float], path: Path, title: str,
                labels: list[str] | None = None) -> None:
    """Accuracy vs batches and vs wall seconds, with the Bayes ceiling drawn (a video task: the BCE
    per frame, with its floors, docs/bouncing.md#floors)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bce = bool(curves) and curves[0].get("unit") == "bce"
    scale = 1 if bce else 100
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for i, curve in enumerate(curves):
        label = labels[i] if labels else f"seed {curve['seed']}"
        for ax, x, hx in ((axes[0], "step", "held_step"), (axes[1], "time", "held_time")):
            line, = ax.plot(curve[x], [scale * a for a in curve["acc"]], lw=1,
                            label=f"{label} {'training' if bce else 'prequential'}")
            if curve["held_acc"]:
                ax.plot(curve[hx], [scale * a for a in curve["held_acc"]], "o--", ms=3, color=line.get_color(),
                        label=f"{label} held-out")
    for ax, xlabel in zip(axes, ("batches (time steps)", "training wall time (s)")):
        if "bayes" in ceilings:
            ax.axhline(100 * ceilings["bayes"], color="k", ls=":", lw=1,
                       label=f"Bayes ceiling {100 * ceilings['bayes']:.2f}%")
        for key, what, style in (("mean_frame_bce", "mean frame", ":"), ("copy_last_bce", "copy last frame", "-.")):
            if bce and key in ceilings:
                ax.axhline(ceilings[key], color="k", ls=style, lw=1, label=f"{what} {ceilings[key]:.1f}")
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    if bce:
        axes[0].set_ylabel("BCE per frame (nats)")
    else:
        axes[0].set_ylabel("next-label accuracy (%)")
        axes[0].set_ylim(0, 100)
    axes[1].legend(fontsize=7, loc="upper right" if bce else "lower right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def append_eval_record(path: Path, record: dict[str, Any]) -> Path:
    """Add one evaluation record (``nobptt.records.build.evaluation_record``) to the record file at
    ``path``, replacing an earlier record of the same run, checkpoint, split and overrides."""
    return add_records(Path(path), [record])
