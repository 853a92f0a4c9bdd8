"""Metrics of a run: a JSONL file with one row per epoch or evaluation."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


class MetricsLog:
    """Append-only JSONL log that can be cut back to a checkpoint's step on resume."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def write(self, row: dict[str, Any]) -> None:
        with self.path.open("a") as handle:
            handle.write(json.dumps(row) + "\n")

    def rows(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def truncate_after(self, step: int) -> None:
        """Drop rows logged after ``step`` (they belong to work the resumed run will redo)."""
        kept = [r for r in self.rows() if r.get("step", 0) <= step]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))


class RunningMean:
    """Sums, counts and maxima of named scalars since the last reset."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        # the largest single value added: a mean over an epoch hides one update's burst
        self.maxima: dict[str, float] = {}

    def add(self, name: str, value: float, count: int = 1) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + value
        self.counts[name] = self.counts.get(name, 0) + count
        self.maxima[name] = max(self.maxima.get(name, -math.inf), value)

    def means(self) -> dict[str, float]:
        return {k: self.sums[k] / self.counts[k] for k in self.sums if self.counts[k]}

    def reset(self) -> None:
        self.sums, self.counts, self.maxima = {}, {}, {}


def first_non_finite(losses: dict[str, float]) -> str | None:
    return next((name for name, value in losses.items() if not math.isfinite(value)), None)
