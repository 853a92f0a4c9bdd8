"""``SWEEP/sessions.json``: one entry per invocation of a sweep (its command, start, wall time,
backend, jobs, threads, what ran, failed or was interrupted, the machine and commit). A sweep's
wall time is its own measurement, which no run folder holds, and its record copies these entries
(``details.sweep.sessions``).

An entry is written when the invocation starts and brought up to date each time a point ends, so
an invocation killed outright (``kill -9``, a closed terminal, a machine's session ending) still
leaves one: the next invocation finds it open (``ended`` null) and marks it ``cut_off``, its
``wall_time_s`` then the time up to the last point that ended (a lower bound)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from nobptt.errors import DamagedFileError

SESSIONS = "sessions.json"


def read_sessions(sweep_dir: Path) -> list[dict[str, Any]]:
    path = Path(sweep_dir) / SESSIONS
    if not path.exists():
        return []
    try:
        sessions = json.loads(path.read_text())
    except ValueError as e:
        raise DamagedFileError(f"{path} is damaged ({e}); move it aside to keep the sweep's past wall times, "
                               f"and rerun: a new one is started") from None
    if not isinstance(sessions, list):
        raise DamagedFileError(f"{path} is damaged: expected a list of sessions; move it aside and rerun")
    return sessions


def _write(sweep_dir: Path, sessions: list[dict[str, Any]]) -> None:
    from nobptt.train.checkpoint import save_json  # atomic: a kill mid-write keeps the old file

    save_json(sessions, Path(sweep_dir) / SESSIONS)


def open_session(sweep_dir: Path, session: dict[str, Any]) -> int:
    """Append an entry for this invocation (``ended`` null until it ends) and return its index. Called
    under the sweep's lock, so an entry still open belongs to an invocation that was killed."""
    from nobptt.environment import environment

    sessions = read_sessions(sweep_dir)
    for earlier in sessions:
        if "ended" in earlier and earlier["ended"] is None:
            earlier["cut_off"] = True
    machine = environment()
    sessions.append({**session, "wall_time_s": 0.0, "ran": [], "failed": [], "interrupted": False,
                     "ended": None, "cut_off": False, "hardware": machine["hardware"], "commit": machine["commit"],
                     "clean": machine["clean"], "torch": machine["torch"]})
    _write(sweep_dir, sessions)
    return len(sessions) - 1


def update_session(sweep_dir: Path, index: int, ended: bool = False, **fields: Any) -> None:
    """Bring entry ``index`` up to date (``ran``, ``failed``, ``wall_time_s``, ...); ``ended`` closes it."""
    sessions = read_sessions(sweep_dir)
    sessions[index].update(fields)
    if ended:
        sessions[index]["ended"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    _write(sweep_dir, sessions)
