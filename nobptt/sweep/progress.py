"""What a sweep prints: one line per point as its state changes (started, resumed, each held-out
evaluation with its step, finished, failed, skipped) above one overall bar of runs done.

The lines are read from the points' run folders (the last rows of ``metrics.jsonl``), not from the
points' processes, so they look the same on the local backend and on a Ray cluster whose run
folders are on a path the driver sees.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any

from nobptt.progress import heldout_parts, is_evaluation
from nobptt.sweep.plan import Point
from nobptt.train import files

TAIL_BYTES = 16_384  # enough for the last rows of a metrics log; the log can be long


def last_rows(path: Path) -> list[dict[str, Any]]:
    """The complete rows at the end of a metrics log (a torn last line, being written, is left out)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - TAIL_BYTES))
            text = handle.read().decode(errors="replace")
    except OSError:
        return []
    lines = text.split("\n")[:-1]  # the part after the last newline is incomplete
    if size > TAIL_BYTES:
        lines = lines[1:]  # the first line may be cut by the seek
    rows = []
    for line in lines:
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


class SweepProgress:
    """``started`` / ``poll`` / ``finished`` / ``failed`` / ``skipped`` print a point's lines;
    the bar counts runs done (finished, skipped or failed) out of the plan's."""

    def __init__(self, total: int, steps: int, task: str, ceilings: dict[str, float] | None = None,
                 file: IO[str] | None = None) -> None:
        from tqdm import tqdm

        self.file = file or sys.stderr
        self.bar = tqdm(total=total, unit="run", desc="sweep", file=self.file, dynamic_ncols=file is None,
                        leave=True)
        self.steps, self.task, self.ceilings = steps, task, ceilings or {}
        self.reported: dict[str, int] = {}

    def line(self, point: Point, text: str) -> None:
        self.bar.write(f"{point.name}: {text}", file=self.file)

    def describe(self, row: dict[str, Any]) -> str:
        parts = [f"step {row.get('step')}/{self.steps}"]
        if "prequential_accuracy" in row:
            parts.append(f"prequential accuracy {100 * row['prequential_accuracy']:.2f}%")
        return ", ".join(parts + heldout_parts(row, self.task, self.ceilings))

    def started(self, point: Point, how: str, folder: Path) -> None:
        rows = last_rows(folder / "metrics.jsonl") if how == "resumed" else []
        self.reported[point.name] = rows[-1].get("step", 0) if rows else 0
        self.line(point, f"{how} ({folder})")

    def poll(self, point: Point, folder: Path) -> None:
        """A line for each held-out evaluation logged since the last poll."""
        seen = self.reported.get(point.name, 0)
        for row in last_rows(folder / "metrics.jsonl"):
            step = row.get("step", 0)
            if isinstance(step, int) and step > seen and is_evaluation(row) and step < self.steps:
                self.line(point, self.describe(row))
                seen = step
        self.reported[point.name] = seen

    def finished(self, point: Point, folder: Path) -> None:
        rows = last_rows(folder / "metrics.jsonl")
        evaluated = [r for r in rows if is_evaluation(r)]
        self.line(point, "finished: " + (self.describe(evaluated[-1]) if evaluated else f"step {self.steps}"))
        self.bar.update(1)

    def failed(self, point: Point, code: int | None, log: Path) -> None:
        try:
            lines = [s for s in log.read_text(errors="replace").splitlines() if s.strip()]
        except OSError:
            lines = []
        why = lines[-1].strip() if lines else "no output"
        self.line(point, f"FAILED (exit {code}): {why}  [log: {log}]")
        self.bar.update(1)

    def skipped(self, point: Point, how: str = "finished") -> None:
        why = files.SUMMARY if how == "finished" else f"{files.DIVERGED}; resume it by hand to retry"
        self.line(point, f"{how} before ({why}), skipped")
        self.bar.update(1)

    def diverged(self, point: Point, folder: Path) -> None:
        try:
            what = json.loads((folder / files.DIVERGED).read_text())["message"]
        except (OSError, ValueError, KeyError):
            what = f"see {files.DIVERGED}"
        self.line(point, f"diverged, left out of the choice: {what}")
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
