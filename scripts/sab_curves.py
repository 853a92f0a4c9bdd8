"""Plot the validation curves against updates of the runs recorded in a SAB results file: recall
accuracy for copying, MSE (log scale) for adding.

Usage: python scripts/sab_curves.py results/sab_copying_long.json   (writes results/sab_copying_long.png)
One panel per training length T; one line per learner (colour), seed (line style) and schedule
(the longest run of them: a run continued by sab_continue.sh repeats its source's curve), from the
held-out curve its test record carries;
chance dashed (copying: 12.5%; adding: predicting 1, MSE 1/6 in expectation).
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from sab_table import eval_length, label, schedule, updates  # noqa: E402

from nobptt.tasks.episodes import ADDING_CHANCE_MSE, COPY_CHANCE_ACCURACY  # noqa: E402

# task -> (metric in the held-out curve, scale to plot, axis label, chance on that scale, log axis)
METRICS = {"copying": ("heldout_accuracy", 100, "validation recall accuracy (%)", 100 * COPY_CHANCE_ACCURACY, False),
           "adding": ("heldout_mse", 1, "validation MSE", ADDING_CHANCE_MSE, True)}

SEED_STYLES = ["-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3))]  # six distinct, then repeated


def longest_runs(records: list) -> dict:
    """(learner and schedule, seed, T) -> the test record at the training length with the most
    training steps: a continued run's curve starts with its source's, so only the longest is drawn."""
    longest = {}
    for r in records:
        key = (label(r) + schedule(r), r["seed"], r["config"]["task"]["T"])
        if r["split"] == "test" and eval_length(r) == key[2] and (
                key not in longest or r["config"]["train"]["steps"] > longest[key]["config"]["train"]["steps"]):
            longest[key] = r
    return longest


def plot(records: list, source: str = "records"):
    """The figure: one panel per T, colour per learner, line style per seed, chance dashed."""
    tasks = {r["config"]["task"]["name"] for r in records}  # all records: keys of two tasks can collide
    longest = longest_runs(records)
    if len(tasks) != 1 or not tasks <= set(METRICS):
        raise SystemExit(f"{source}: expected the records of one task, copying or adding; found {sorted(tasks)}")
    metric, scale, ylabel, chance, log = METRICS[tasks.pop()]
    lengths = sorted({key[2] for key in longest})
    fig, axes = plt.subplots(1, len(lengths), figsize=(5.5 * len(lengths), 5), sharey=True, squeeze=False)
    learners = sorted({key[0] for key in longest})
    seeds = sorted({key[1] for key in longest})
    palette = plt.cm.tab10.colors if len(learners) <= 10 else plt.cm.tab20.colors  # zip would drop the 11th
    colors = {n: palette[i % len(palette)] for i, n in enumerate(learners)}  # colour per learner, style per seed
    styles = dict(zip(seeds, SEED_STYLES * len(seeds)))
    for ax, T in zip(axes[0], lengths):
        for (name, seed, length), r in sorted(longest.items()):
            if length == T:
                curve = [p for p in r["heldout_curve"] if metric in p]
                ax.plot([updates(r, p["step"]) for p in curve], [scale * p[metric] for p in curve],
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


def main(path: str) -> Path:
    fig = plot(json.loads(Path(path).read_text()), source=path)
    out = Path(path).with_suffix(".png")
    fig.savefig(out, dpi=110, bbox_inches="tight")  # keeps the legend below the axes
    return out


if __name__ == "__main__":
    print(f"wrote {main(sys.argv[1])}")
