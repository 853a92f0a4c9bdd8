"""Run a sweep's plan: skip the finished points, resume the unfinished ones, start the rest, at most
the backend's slots at a time; report a point that fails and go on; on Ctrl-C stop every running
point (each stays resumable) and say how to continue; then write the aggregate record."""
from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nobptt.errors import RunFolderError
from nobptt.sweep.backends import Backend
from nobptt.sweep.plan import DIVERGED, FINISHED, UNFINISHED, Plan, Point, log_path, run_dir, state, train_args
from nobptt.sweep.progress import SweepProgress
from nobptt.sweep.sessions import SESSIONS, open_session, update_session

POLL_S = 1.0
INTERRUPTED = 130  # the shell's exit status for Ctrl-C


@contextmanager
def sweep_lock(sweep_dir: Path) -> Iterator[None]:
    """One sweep process per sweep folder (an OS lock, released however the process ends). Each
    point's run folder has its own lock too (docs/runs.md), so a point is never trained twice."""
    path = Path(sweep_dir) / ".lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            raise RunFolderError(f"{sweep_dir} is being swept by another process ({handle.read().strip() or 'unknown'}); "
                                 f"wait for it, or stop it (Ctrl-C) and rerun") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        yield


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """The sweep process's own work (the test reads when it records) at ``threads`` torch threads,
    as each point ran: at torch's default of one thread per core a test read beside another lane's
    run oversubscribes the cores and slows that run, whose wall time goes into its record."""
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def execute(plan: Plan, sweep_dir: Path, backend: Backend, progress: SweepProgress, gpus: int = 0,
            point_ended: Callable[[list[Point], list[tuple[Point, int | None]]], None] | None = None) -> dict[str, Any]:
    """Run every point not finished (or diverged) yet. Returns ``{"failed": [(point, code)],
    "interrupted": bool, "ran": [points]}``; KeyboardInterrupt is caught here, after every running
    point is stopped. A point that diverges is an outcome, not a failure: its run folder says so
    (``diverged.json``), a rerun skips it, and the choice leaves it out (collect). ``point_ended(ran,
    failed)`` is called each time a point's process ends."""
    queue: list[Point] = []
    for point in plan.points:
        before = state(run_dir(sweep_dir, point))
        if before in (FINISHED, DIVERGED):
            progress.skipped(point, before)
        else:
            queue.append(point)
    running: dict[str, tuple[Point, Any]] = {}
    failed: list[tuple[Point, int | None]] = []
    ran: list[Point] = []
    try:
        while queue or running:
            while queue and len(running) < backend.slots:
                point = queue.pop(0)
                folder = run_dir(sweep_dir, point)
                how = "resumed" if state(folder) == UNFINISHED else "started"
                args = train_args(plan, point, folder)
                progress.started(point, how, folder)
                running[point.name] = (point, backend.start(args, log_path(sweep_dir, point), gpus))
            time.sleep(POLL_S)
            for name, (point, handle) in list(running.items()):
                folder = run_dir(sweep_dir, point)
                progress.poll(point, folder)
                code = backend.done(handle)
                if code is None:
                    continue
                del running[name]
                ran.append(point)
                if code == 0 and state(folder) == FINISHED:
                    progress.finished(point, folder)
                elif state(folder) == DIVERGED:
                    progress.diverged(point, folder)
                else:
                    failed.append((point, code))
                    progress.failed(point, code, log_path(sweep_dir, point))
                if point_ended:
                    point_ended(ran, failed)
    except KeyboardInterrupt:
        progress.bar.write(f"interrupted: stopping {len(running)} running point(s); each stays resumable",
                           file=progress.file)
        backend.stop([handle for _, handle in running.values()])
        return {"failed": failed, "interrupted": True, "ran": ran}
    return {"failed": failed, "interrupted": False, "ran": ran}


def sweep(plan: Plan, sweep_dir: Path, backend: Backend, steps: int, task: str, ceilings: dict[str, float],
          gpus: int = 0, out_dir: Path | None = None, name: str | None = None, allow_dirty: bool = False,
          command: str = "") -> int:
    """Run the plan in ``sweep_dir`` and write its aggregate record; the exit status: 0 when every
    point finished, 1 when one failed (the others ran and are recorded), 130 when interrupted."""
    from nobptt.sweep.collect import collect
    from nobptt.sweep.plan import write_plan

    write_plan(plan, sweep_dir)
    with sweep_lock(sweep_dir):
        progress = SweepProgress(len(plan.points), steps, task, ceilings)
        clock = time.perf_counter()
        # written now and kept up to date, so an invocation killed outright still leaves its entry
        session = open_session(sweep_dir, {"command": command, "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                           "backend": backend.name, "jobs": backend.slots, "threads": backend.threads})

        def note(ran: list[Point], failed: list[tuple[Point, int | None]], **fields: Any) -> None:
            update_session(sweep_dir, session, wall_time_s=round(time.perf_counter() - clock, 2),
                           ran=[p.name for p in ran], failed=[p.name for p, _ in failed], **fields)

        try:
            outcome = execute(plan, sweep_dir, backend, progress, gpus, note)
        finally:
            progress.close()
            backend.close()
        note(outcome["ran"], outcome["failed"], ended=True, interrupted=outcome["interrupted"])
        left = [p.name for p in plan.points if state(run_dir(sweep_dir, p)) not in (FINISHED, DIVERGED)]
        print(f"{len(outcome['ran'])} run(s) in {time.perf_counter() - clock:.1f} s ({backend.name}, {backend.slots} at a "
              f"time, {backend.threads} thread(s) each; kept in {Path(sweep_dir) / SESSIONS})")
        if outcome["interrupted"] and left:
            print(f"stopped: {len(left)} of {len(plan.points)} runs unfinished, each resumable; the same command "
                  f"continues them (finished runs are skipped): {command or 'nobptt sweep ...'}")
            return INTERRUPTED
        for point, code in outcome["failed"]:
            print(f"failed: {point.name} (exit {code}); its output: {log_path(sweep_dir, point)}")
        if not any(state(run_dir(sweep_dir, p)) == FINISHED for p in plan.points):
            print(f"no run of {sweep_dir} finished; nothing to record")
            return 1
        with torch_threads(backend.threads):
            path, lines = collect(sweep_dir, out_dir, name, allow_dirty, command)
        for line in lines:
            print(line)
        print(f"recorded {path}")
    return 1 if outcome["failed"] else 0
