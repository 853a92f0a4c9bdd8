"""Plot the validation curves against updates of the runs recorded in a SAB results file: recall
accuracy for copying, MSE (log scale) for adding.

Usage: python scripts/sab_curves.py results/sab_copying_long.json   (writes results/sab_copying_long.png)
One line per learner, seed, T and learning-rate schedule (the longest run of them: a run continued
by sab_continue.sh repeats its source's curve), from the held-out curve its test record carries;
chance dashed (copying: 12.5%; adding: predicting 1, MSE 1/6 in expectation).
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sab_table import eval_length, label, schedule, updates  # noqa: E402

from nobptt.tasks.episodes import ADDING_CHANCE_MSE, COPY_CHANCE_ACCURACY  # noqa: E402

# task -> (metric in the held-out curve, scale to plot, axis label, chance on that scale, log axis)
METRICS = {"copying": ("heldout_accuracy", 100, "validation recall accuracy (%)", 100 * COPY_CHANCE_ACCURACY, False),
           "adding": ("heldout_mse", 1, "validation MSE", ADDING_CHANCE_MSE, True)}


def main(path: str) -> Path:
    longest = {}  # a continued run's curve starts with its source's: draw the longest per learner
    for r in json.loads(Path(path).read_text()):
        key = (label(r) + schedule(r), r["seed"], r["config"]["task"]["T"])
        if r["split"] == "test" and eval_length(r) == key[2] and (
                key not in longest or r["config"]["train"]["steps"] > longest[key]["config"]["train"]["steps"]):
            longest[key] = r
    fig, ax = plt.subplots(figsize=(8, 5.5))
    tasks = {r["config"]["task"]["name"] for r in longest.values()}
    if len(tasks) != 1 or not tasks <= set(METRICS):
        raise SystemExit(f"{path}: expected the records of one task, copying or adding; found {sorted(tasks)}")
    metric, scale, ylabel, chance, log = METRICS[tasks.pop()]
    colors = plt.cm.tab20.colors  # 20 distinct colours: the default cycle repeats after 10 lines
    for i, r in enumerate(sorted(longest.values(), key=lambda r: r["run_dir"])):
        curve = [p for p in r["heldout_curve"] if metric in p]
        ax.plot([updates(r, p["step"]) for p in curve], [scale * p[metric] for p in curve], color=colors[i % 20],
                label=f"{label(r)}, seed {r['seed']}, T = {r['config']['task']['T']}{schedule(r)}")
    ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set_xlabel("updates (one per episode of 64 sequences)")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    else:
        ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)  # below: no curve hidden
    out = Path(path).with_suffix(".png")
    fig.savefig(out, dpi=110, bbox_inches="tight")  # keeps the legend below the axes
    return out


if __name__ == "__main__":
    print(f"wrote {main(sys.argv[1])}")
