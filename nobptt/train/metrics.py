"""Metrics of a run: a JSONL file with one row per epoch or evaluation."""
from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from nobptt.errors import DataError
from nobptt.train import faults


class TornLineWarning(UserWarning):
    """The last line of a metrics log was cut (a crash or a full disk mid-write) and is ignored."""


class MetricsLog:
    """Append-only JSONL log that can be cut back to a checkpoint's step on resume.

    Each row is appended as one whole line in a single write, flushed and synced, so a crash can only
    cut the last line; reading ignores such a torn last line (with a :class:`TornLineWarning`) and the
    next write or :meth:`truncate_after` removes it. A damaged line before the last is a DataError."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def write(self, row: dict[str, Any]) -> None:
        line = (json.dumps(row) + "\n").encode()
        self.repair()  # never append after a torn line: the two would merge into one bad line
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if faults.due("metrics"):  # fault injection (nobptt.train.faults): die mid-line, as a crash may
                os.write(fd, line[: len(line) // 2])
                faults.kill()
            written = os.write(fd, line)
            if written != len(line):  # a short write (full disk): take the partial line back out
                os.ftruncate(fd, os.fstat(fd).st_size - written)
                raise OSError(f"{self.path}: only {written} of {len(line)} bytes written (disk full?)")
            os.fsync(fd)
        finally:
            os.close(fd)

    def _parse(self) -> tuple[list[dict[str, Any]], int]:
        """The rows, and the byte offset where a torn last line starts (the file size if none)."""
        if not self.path.exists():
            return [], 0
        data = self.path.read_bytes()
        lines = data.split(b"\n")  # the last element is b"" when the file ends with a newline
        rows: list[dict[str, Any]] = []
        offset = 0
        last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
        for number, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        raise ValueError(f"a JSON {type(row).__name__}, not an object")
                except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                    if number - 1 == last:  # the last line: cut by a crash or a full disk
                        return rows, offset
                    raise DataError(f"{self.path}: line {number} is not a JSON object ({err}); the metrics "
                                    f"log is damaged before its last line. Restore it from a copy, or delete "
                                    f"line {number} (and, to be safe, the rows after it) by hand.") from err
                rows.append(row)
            offset += len(line) + 1
        return rows, len(data)

    def rows(self) -> list[dict[str, Any]]:
        rows, end = self._parse()
        if self.path.exists():
            size = self.path.stat().st_size
            if end < size:
                warnings.warn(f"{self.path}: the last line was cut (a crash or a full disk mid-write); its "
                              f"{size - end} byte(s) are ignored and will be dropped on the next write",
                              TornLineWarning, stacklevel=2)
        return rows

    def repair(self) -> int:
        """Remove a torn last line (and end the file with a newline); returns the bytes dropped."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return 0
        with self.path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) == b"\n":
                return 0
        rows, end = self._parse()
        size = self.path.stat().st_size
        if end < size:
            warnings.warn(f"{self.path}: the last line was cut (a crash or a full disk mid-write); "
                          f"dropped its {size - end} byte(s)", TornLineWarning, stacklevel=2)
        self._rewrite(rows)
        return size - end

    def truncate_after(self, step: int) -> None:
        """Drop rows logged after ``step`` (they belong to work the resumed run will redo), and a torn
        last line; the file is replaced atomically."""
        rows, end = self._parse()
        if self.path.exists() and end < self.path.stat().st_size:
            warnings.warn(f"{self.path}: the last line was cut (a crash or a full disk mid-write); dropped "
                          f"its {self.path.stat().st_size - end} byte(s)", TornLineWarning, stacklevel=2)
        self._rewrite([r for r in rows if r.get("step", 0) <= step])

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=self.path.name, suffix=".tmp", dir=self.path.parent)
        try:
            os.chmod(tmp, 0o644)  # mkstemp makes it 0600; keep the log readable like the other run files
            with os.fdopen(fd, "w") as handle:
                handle.write("".join(json.dumps(r) + "\n" for r in rows))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


class RunningMean:
    """Sums, counts and maxima of named scalars since the last reset."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, float] = {}  # a weighted count where targets carry weights
        # the largest single value added: a mean over an epoch hides one update's burst
        self.maxima: dict[str, float] = {}

    def add(self, name: str, value: float, count: float = 1) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + value
        self.counts[name] = self.counts.get(name, 0) + count
        self.maxima[name] = max(self.maxima.get(name, -math.inf), value)

    def means(self) -> dict[str, float]:
        return {k: self.sums[k] / self.counts[k] for k in self.sums if self.counts[k]}

    def reset(self) -> None:
        self.sums, self.counts, self.maxima = {}, {}, {}


def first_non_finite(losses: dict[str, float]) -> str | None:
    return next((name for name, value in losses.items() if not math.isfinite(value)), None)
