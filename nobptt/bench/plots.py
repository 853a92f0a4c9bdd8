"""Plots of benchmark CSV rows."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_memory_vs_length(rows: list[dict[str, Any]], path: Path) -> None:
    """Log-log: saved-for-backward bytes and peak RSS above idle against T, one line per learner."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, title in ((axes[0], "saved_bytes", "saved for backward, per update"),
                           (axes[1], "peak_rss_above_idle", "peak resident memory above idle")):
        for name in sorted({r["learner"] for r in rows}):
            points = sorted((int(r["T"]), float(r[key])) for r in rows
                            if r["learner"] == name and r.get(key) not in (None, ""))
            if points:
                ax.loglog([t for t, _ in points], [v / 2**20 for _, v in points], "o-", label=name)
        ax.set_xlabel("sequence length T (steps)")
        ax.set_ylabel("MiB")
        ax.set_title(title)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
