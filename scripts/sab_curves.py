"""Plot the validation recall accuracy against updates of the runs recorded in a SAB results file.

Usage: python scripts/sab_curves.py results/sab_copying_long.json   (writes results/sab_copying_long.png)
One line per learner, seed, T and learning-rate schedule (the longest run of them: a run continued
by sab_continue.sh repeats its source's curve), from the held-out curve its test record carries; chance dashed.
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sab_table import eval_length, label, schedule, updates  # noqa: E402


def main(path: str) -> Path:
    longest = {}  # a continued run's curve starts with its source's: draw the longest per learner
    for r in json.loads(Path(path).read_text()):
        key = (label(r) + schedule(r), r["seed"], r["config"]["task"]["T"])
        if r["split"] == "test" and eval_length(r) == key[2] and (
                key not in longest or r["config"]["train"]["steps"] > longest[key]["config"]["train"]["steps"]):
            longest[key] = r
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for r in sorted(longest.values(), key=lambda r: r["run_dir"]):
        curve = [p for p in r["heldout_curve"] if "heldout_accuracy" in p]
        ax.plot([updates(r, p["step"]) for p in curve], [100 * p["heldout_accuracy"] for p in curve],
                label=f"{label(r)}, seed {r['seed']}, T = {r['config']['task']['T']}{schedule(r)}")
    ax.axhline(12.5, color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set_xlabel("updates (one per episode of 64 sequences)")
    ax.set_ylabel("validation recall accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)  # below: no curve hidden
    out = Path(path).with_suffix(".png")
    fig.savefig(out, dpi=110, bbox_inches="tight")  # keeps the legend below the axes
    return out


if __name__ == "__main__":
    print(f"wrote {main(sys.argv[1])}")
