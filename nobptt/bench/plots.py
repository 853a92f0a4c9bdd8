"""Plots of benchmark CSV rows."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _label(row: dict[str, Any]) -> str:
    """The learner, and its hidden size where the options set one (``--hidden``, a matched LSTM)."""
    hidden = json.loads(row.get("options") or "{}").get("hidden")
    return row["learner"] + (f" h{hidden}" if hidden is not None else "")


def plot_memory_vs_length(rows: list[dict[str, Any]], path: Path) -> None:
    """Log-log: saved-for-backward bytes and peak RSS above idle against T, one line per learner."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, title in ((axes[0], "saved_bytes", "saved for backward, per update"),
                           (axes[1], "peak_rss_above_idle_bytes", "peak resident memory above idle")):
        for name in sorted({_label(r) for r in rows}):
            points = sorted((int(r["T"]), float(r[key])) for r in rows
                            if _label(r) == name and r.get(key) not in (None, ""))
            if points:
                ax.loglog([t for t, _ in points], [v / 2**20 for _, v in points], "o-", label=name)
        ax.set_xlabel("sequence length T (steps)")
        ax.set_ylabel("MiB")
        ax.set_title(title)
        ax.grid(alpha=0.3, which="both")
    if rows:
        axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_memory_vs_parameters(rows: list[dict[str, Any]], path: Path) -> None:
    """Log-log: saved bytes and peak RSS against parameter count, one line per (learner, T)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, title in ((axes[0], "saved_bytes", "saved for backward, per update"),
                           (axes[1], "peak_rss_above_idle_bytes", "peak resident memory above idle")):
        for name, T in sorted({(r["learner"], int(r["T"])) for r in rows}):
            points = sorted((int(r["parameters"]), float(r[key])) for r in rows
                            if r["learner"] == name and int(r["T"]) == T)
            ax.loglog([p for p, _ in points], [v / 2**20 for _, v in points], "o-", label=f"{name}, T={T}")
        ax.set_xlabel("parameters")
        ax.set_ylabel("MiB")
        ax.set_title(title)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_speed(rows: list[dict[str, Any]], path: Path) -> None:
    """Bars: training and inference samples/s per learner, labelled with the share of the matmul rate."""
    plt = _pyplot()
    labels = [_label(r) + (f"\nx{r['scale']}" if r.get("scale") not in (None, "") else "") for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(rows)), 4.5))
    width = 0.4
    for offset, phase in ((-width / 2, "train"), (width / 2, "infer")):
        values = [float(r[f"{phase}_samples_per_s"]) for r in rows]
        bars = ax.bar([i + offset for i in range(len(rows))], values, width, label=phase)
        for bar, r in zip(bars, rows):
            ax.annotate(f"{100 * float(r[f'{phase}_matmul_fraction']):.0f}%", (bar.get_x() + width / 2,
                        bar.get_height()), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(rows)), labels, rotation=30, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("samples / s (label: % of measured matmul FLOP/s)")
    ax.set_title(f"throughput, batch {rows[0]['batch_size']}, {rows[0]['device']}" if rows else "throughput")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
