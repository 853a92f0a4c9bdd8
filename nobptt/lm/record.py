"""Record a language-model run as ``results/NAME.json`` + ``NAME.png``: its ``nobptt lm evaluate``
result, the run's provenance (command, config, commit, hardware, training wall time) and its whole
learning curve (validation perplexity and training losses against steps)."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from nobptt.run import read_run_config
from nobptt.train.metrics import MetricsLog


def curve(run_dir: Path) -> list[dict[str, Any]]:
    rows = MetricsLog(Path(run_dir) / "metrics.jsonl").rows()
    for row in rows:
        if "heldout_nll" in row:
            row["heldout_perplexity"] = math.exp(row["heldout_nll"])
    return rows


def record_lm_result(evaluation: dict[str, Any], run_dir: Path, out: Path) -> Path:
    rows = curve(run_dir)
    meta = read_run_config(run_dir)
    result = {**evaluation, "training": {key: meta.get(key) for key in
                                         ("experiment", "command", "parameters", "hardware", "device",
                                          "torch", "commit")},
              "training_steps": rows[-1]["step"] if rows else 0,
              "training_wall_time_s": rows[-1]["wall_time_s"] if rows else None, "curve": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    plot_curve(rows, evaluation, out.with_suffix(".png"), out.stem)
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
