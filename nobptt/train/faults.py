"""Fault injection for the fault-injection suite (tests/test_faults.py) and its soak (tests/faults.py).

``NOBPTT_FAULT=POINT:N`` makes the process kill itself with SIGKILL, exactly as ``kill -9`` would
(no handler, no ``finally``, no flush runs), the N-th time it reaches a fault point named POINT:

* ``step``: after a training step, before that step's metrics row and checkpoint;
* ``checkpoint``: inside a checkpoint write, before each of its renames (the previous checkpoint's
  copy, its checksum, the two-digest checksum, the checkpoint itself, its final checksum), with the
  new file written and synced under its temporary name;
* ``json``: before the rename of config.json or summary.json;
* ``metrics``: halfway through appending a metrics row, leaving a torn last line.

The points are counted from 1 in the order the process reaches them, so N picks, say, the third
rename of the second checkpoint. Unset (every real run), ``hit`` returns at its first comparison:
the hook costs one function call per step or write and changes nothing else.
"""
from __future__ import annotations

import os
import signal

ENV_VAR = "NOBPTT_FAULT"
POINTS = ("step", "checkpoint", "json", "metrics")


def _plan(text: str) -> tuple[str, int] | None:
    if not text:
        return None
    point, _, count = text.partition(":")
    if point not in POINTS or not count.isdigit() or int(count) < 1:
        raise SystemExit(f"{ENV_VAR}={text!r}: expected POINT:N with POINT one of {POINTS} and N >= 1")
    return point, int(count)


# read once, at import: the plan belongs to the process, as a kill from outside would
_PLAN = _plan(os.environ.get(ENV_VAR, ""))
_reached = 0


def due(point: str) -> bool:
    """True when the process is to die at this reach of ``point`` (its N-th); counts the reach."""
    global _reached
    if _PLAN is None or _PLAN[0] != point:
        return False
    _reached += 1
    return _reached == _PLAN[1]


def kill() -> None:
    """Die as ``kill -9`` makes a process die."""
    os.kill(os.getpid(), signal.SIGKILL)


def hit(point: str) -> None:
    """A fault point: kill the process here if ``NOBPTT_FAULT`` says so."""
    if _PLAN is not None and due(point):
        kill()
