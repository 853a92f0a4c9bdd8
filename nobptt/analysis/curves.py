"""Figures of a record file (``nobptt analyze curves RECORD_FILE [--out PNG]``).

Evaluation records of SAB copying or adding (``nobptt eval --out``): the validation curve each test
record carries, against updates; recall accuracy for copying, MSE (log scale) for adding. One panel
per training length T; one colour per learner, what its config changes and its schedule
(nobptt.records.labels.sab_description), one line style per seed; of a run and its continuation
only the longest is drawn (a continued run's curve starts with its source's); chance dashed
(copying: 12.5%; adding: predicting 1, MSE 1/6 in expectation).

Training records (``nobptt report``): prequential and held-out accuracy against time steps and wall
time, one line per record (its label), as ``nobptt report`` draws them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from nobptt.analysis.sab import eval_length, runs_with_curves, sab_description, updates
from nobptt.errors import RecordError
from nobptt.records.io import load_file

# task -> (metric in the held-out curve, scale to plot, axis label, log axis)
METRICS = {"copying": ("heldout_accuracy", 100, "validation recall accuracy (%)", False),
           "adding": ("heldout_mse", 1, "validation MSE", True)}

SEED_STYLES = ["-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3))]  # six distinct, then repeated

Line = tuple[str, Any, int]  # (description, seed, T)


def longest_runs(records: list[dict[str, Any]]) -> dict[Line, tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(description, seed, T) -> (run, curve) of the test record at the training length with the
    most training steps."""
    longest: dict[Line, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    for record in records:
        if record["split"] != "test":
            continue
        for run, curve in runs_with_curves(record):
            config = run["config"]
            key = (sab_description(config, record.get("experiment")), run["seed"], config["task"]["T"])
            steps = config["train"]["steps"]
            if eval_length(config) == key[2] and (key not in longest or
                                                  steps > longest[key][0]["config"]["train"]["steps"]):
                longest[key] = (run, curve)
    return longest


def plot(records: list[dict[str, Any]], source: str = "records"):
    """The figure: one panel per T, colour per learner, line style per seed, chance dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    tasks = {r["task"] for r in records}  # all records: keys of two tasks can collide
    if len(tasks) != 1 or not tasks <= set(METRICS):
        raise RecordError(f"{source}: expected the evaluation records of one task, copying or adding; "
                          f"found {sorted(tasks)}")
    longest = longest_runs(records)
    if not longest:
        raise RecordError(f"{source}: no test record evaluated at its training length: nothing to draw")
    from nobptt.tasks.episodes import ADDING_CHANCE_MSE, COPY_CHANCE_ACCURACY  # lazily: imports torch

    task = tasks.pop()
    metric, scale, ylabel, log = METRICS[task]
    chance = 100 * COPY_CHANCE_ACCURACY if task == "copying" else ADDING_CHANCE_MSE
    lengths = sorted({key[2] for key in longest})
    fig, axes = plt.subplots(1, len(lengths), figsize=(5.5 * len(lengths), 5), sharey=True, squeeze=False)
    learners = sorted({key[0] for key in longest})
    seeds = sorted({key[1] for key in longest})
    palette = plt.cm.tab10.colors if len(learners) <= 10 else plt.cm.tab20.colors  # zip would drop the 11th
    colors = {n: palette[i % len(palette)] for i, n in enumerate(learners)}  # colour per learner, style per seed
    styles = dict(zip(seeds, SEED_STYLES * len(seeds)))
    for ax, T in zip(axes[0], lengths):
        for (name, seed, length), (run, rows) in sorted(longest.items(), key=lambda kv: kv[0]):
            if length == T:
                curve = [p for p in rows if metric in p]
                ax.plot([updates(run["config"], p["step"]) for p in curve], [scale * p[metric] for p in curve],
                        color=colors[name], linestyle=styles[seed], linewidth=1.3)
        ax.axhline(chance, color="grey", linestyle="--", linewidth=1)
        ax.set_title(f"T = {T}")
        ax.set_xlabel("thousands of updates (one per episode of 64 sequences)")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}"))  # 14000 -> 14: no overlap
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    if log:
        axes[0][0].set_yscale("log")
    else:
        axes[0][0].set_ylim(0, 100)
    handles = [Line2D([], [], color=colors[n], label=n) for n in learners]
    handles += [Line2D([], [], color="black", linestyle=styles[s], label=f"seed {s}") for s in seeds]
    handles.append(Line2D([], [], color="grey", linestyle="--", linewidth=1, label="chance"))
    fig.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3)  # below
    return fig


def plot_training(records: list[dict[str, Any]], out: Path, title: str) -> None:
    """Training records: the figure ``nobptt report`` draws, one line per record's run."""
    from nobptt.report import plot_curves, runs_to_curve

    curves, labels = [], []
    for record in records:
        for run, rows in runs_with_curves(record):
            curves.append(runs_to_curve({"rows": rows, "meta": {"config": run["config"]}}))
            labels.append(record["label"] if len(record["runs"]) == 1 else f"{record['label']} seed {run['seed']}")
    plot_curves(curves, records[0].get("ceilings", {}), out, title, labels)


def main(path: str | Path, out: str | Path | None = None) -> Path:
    """Draw the figure of the record file at ``path`` into ``out`` (default: beside it, .png)."""
    path = Path(path)
    data = load_file(path)
    out = Path(out) if out else path.with_suffix(".png")
    kinds = {r["kind"] for r in data["records"]}
    if kinds == {"training"}:
        plot_training(data["records"], out, data["name"])
        return out
    if kinds != {"evaluation"}:
        raise RecordError(f"{path}: expected evaluation records (nobptt eval --out) or training records "
                          f"(nobptt report); found {sorted(kinds)}")
    fig = plot(data["records"], source=str(path))
    fig.savefig(out, dpi=110, bbox_inches="tight")  # keeps the legend below the axes
    import matplotlib.pyplot as plt

    plt.close(fig)
    return out
