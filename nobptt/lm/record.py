"""Record a language-model evaluation (``nobptt lm evaluate --out``) as two schema-1 records, split
valid and split test (docs/results.md), with the run's provenance and whole learning curve, and
plot the curve beside it (``NAME.png``)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from nobptt.records.build import curve_key, evaluation_provenance, run_label, training_provenance
from nobptt.records.schema import SCHEMA
from nobptt.run import read_run_config
from nobptt.train.metrics import MetricsLog


def curve(run_dir: Path) -> list[dict[str, Any]]:
    rows = MetricsLog(Path(run_dir) / "metrics.jsonl").rows()
    for row in rows:
        if "heldout_nll" in row:
            row["heldout_perplexity"] = math.exp(row["heldout_nll"])
    return rows


def lm_records(result: dict[str, Any], meta: dict[str, Any], rows: list[dict[str, Any]],
               writing: dict[str, Any], test_reads: int | None, at: str | None = None,
               label: str | None = None) -> list[dict[str, Any]]:
    """The valid and test records of one ``nobptt.lm.evaluate.evaluate_run`` result.

    ``meta``: the run's config.json (its training provenance, resumes included); ``writing``: the
    commit, cleanliness and saved diff of the evaluating tree; ``at``: when it ran (None: now)."""
    config = result["config"]
    training = training_provenance(meta, rows[-1]["wall_time_s"] if rows else None)
    mixture = {"fitted_on": result.get("mixture_fitted_on", "validation"),
               "cache_decay_grid": result.get("cache_decay_grid"), "weights": result.get("mixture")}
    records = []
    for split in ("valid", "test"):
        scores = result[split]
        metrics = {"perplexity": scores["perplexity_model"], "mixture_perplexity": scores["perplexity_mixture"]}
        evaluation = evaluation_provenance(result.get("command"), result["checkpoint"], result["step"], split,
                                           result.get("wall_time_s", result.get("wall_seconds")), result, writing)
        if at is not None or "at" in result:
            evaluation["at"] = at if at is not None else result["at"]
        details = {"tokens": scores["tokens"], "mixture": mixture}
        if "perplexity_mixture_by_cache_decay" in scores:
            details["mixture_perplexity_by_cache_decay"] = scores["perplexity_mixture_by_cache_decay"]
        run = {"seed": config["train"]["seed"], "run_dir": str(result["run_dir"]), "config": config,
               "overrides": [], "parameters": meta.get("parameters"), "steps": rows[-1]["step"] if rows else None,
               "metrics": dict(metrics), "training": training, "evaluation": evaluation}
        record = {"schema": SCHEMA, "kind": "lm_evaluation", "label": label or run_label(result["run_dir"]),
                  "task": config["task"]["name"], "learner": config["model"]["name"],
                  "experiment": meta.get("experiment"), "split": split, "metrics": metrics,
                  "curves": {curve_key(run["seed"], {}): rows}, "details": details, "runs": [run]}
        if split == "test":
            record["test_reads"] = test_reads
        records.append(record)
    return records


def record_lm_result(result: dict[str, Any], run_dir: Path, out: Path, writing: dict[str, Any],
                     test_reads: int | None, label: str | None = None) -> Path:
    """Add the valid and test records of ``result`` to the record file ``out`` (+ ``out``.png)."""
    from nobptt.records.io import add_records

    rows = curve(run_dir)
    records = lm_records(result, read_run_config(run_dir), rows, writing, test_reads, label=label)
    add_records(out, records)
    plot_curve(rows, result, out.with_suffix(".png"), out.stem)
    return out


def plot_curve(rows: list[dict[str, Any]], evaluation: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_ppl, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
    held = [r for r in rows if "heldout_perplexity" in r]
    ax_ppl.plot([r["step"] for r in held], [r["heldout_perplexity"] for r in held], "o-", label="validation (model alone)")
    ax_ppl.axhline(evaluation["test"]["perplexity_model"], color="C1", ls="--",
                   label=f"test, model alone ({evaluation['test']['perplexity_model']:.1f})")
    ax_ppl.axhline(evaluation["test"]["perplexity_mixture"], color="C2", ls="--",
                   label=f"test, mixture fitted on validation ({evaluation['test']['perplexity_mixture']:.1f})")
    ax_ppl.set(xlabel="training step", ylabel="perplexity", title=f"{title}: perplexity")
    ax_ppl.legend(fontsize=8)
    for name in ("memory_mse", "classifier_ce", "cross_entropy"):
        points = [(r["step"], r[name]) for r in rows if name in r]
        if points:
            ax_loss.plot(*zip(*points), label=name)
    ax_loss.set(xlabel="training step", ylabel="training loss (epoch mean)", yscale="log", title="training losses")
    if ax_loss.lines:
        ax_loss.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
