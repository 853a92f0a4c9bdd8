"""Where a sweep's points run: ``local`` (default; at most N ``nobptt train`` processes at a time on
this machine) or ``ray`` (tasks on a Ray cluster, each running the same process on its node).

Both run each point as its own ``python -m nobptt train ...`` process, the command a user would
type for that point, so a point's run folder is the one running it by hand makes (a test checks
the metrics are identical), a crash of one point cannot take the others down, and a stopped point
is an ordinary interrupted run that ``nobptt train --resume`` continues.

Threads: parallelism in these learners lives across runs, not inside one (each time step depends on
the last), so the cores are split between the runs: each process gets ``OMP_NUM_THREADS`` = cores
// jobs (at least 1), which torch takes as its thread count unless the experiment sets
``train.threads`` itself. N jobs then share the cores without oversubscription.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

from nobptt.errors import ConfigError

STOP_WAIT_S = 30  # how long a point's process may take to stop after SIGINT before it is killed
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def point_env(threads: int) -> dict[str, str]:
    """The environment a point's process gets on top of its parent's: its thread count, and no
    progress bar (tqdm's own switch; the sweep prints the points' progress from their run folders)."""
    return {**{name: str(threads) for name in THREAD_VARIABLES}, "TQDM_DISABLE": "1"}


def stop_process(proc: subprocess.Popen) -> None:
    """Ctrl-C for one point: SIGINT (the run stops as after Ctrl-C, its last checkpoint intact),
    then SIGKILL if it has not stopped in STOP_WAIT_S (a kill -9 is resumable too, docs/runs.md)."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGINT)
        proc.wait(STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_train(args: list[str], log: str, env: dict[str, str]) -> subprocess.Popen:
    """Start ``python -m nobptt ARGS`` with its output appended to ``log``. In its own session, so
    that a Ctrl-C at the terminal reaches the sweep only, which then stops each point itself."""
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as handle:
        handle.write(f"$ nobptt {' '.join(shlex.quote(a) for a in args)}\n")
        handle.flush()
        return subprocess.Popen([sys.executable, "-m", "nobptt", *args], stdout=handle, stderr=subprocess.STDOUT,
                                env={**os.environ, **env}, start_new_session=True, preexec_fn=_default_sigint)


def _default_sigint() -> None:
    """In the child before exec: Ctrl-C back to its default (a Ray worker blocks SIGINT, and a
    blocked or ignored signal stays so across exec, so a point started by one could not be stopped);
    and, on Linux, SIGTERM to the point when the sweep that started it dies (``kill -9`` of the sweep,
    its terminal closed): a point in its own session would otherwise run on, orphaned, holding its run
    folder's lock against the rerun. Stopped so, it resumes from its last checkpoint like any kill."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
        except (OSError, AttributeError):
            pass  # no prctl: an orphaned point runs to its end, which loses nothing


def run_train(args: list[str], log: str, env: dict[str, str]) -> int:
    """Run one point to its end and return its exit code; an interruption (a Ray cancel raises
    KeyboardInterrupt here) stops the process first."""
    proc = start_train(args, log, env)
    try:
        while True:  # short waits: Ray's cancel raises in this thread only between Python bytecodes
            try:
                return proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                continue
    except BaseException:
        stop_process(proc)
        raise


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it, e.g. under
    taskset or a container's cpuset), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on macOS or Windows
        return os.cpu_count() or 1


class Backend(Protocol):
    name: str  # "local" or "ray"
    slots: int  # points in flight at once
    threads: int  # threads (Ray: CPUs) per point

    def start(self, args: list[str], log: Path, gpus: int) -> Any: ...
    def done(self, handle: Any) -> int | None: ...  # exit code once finished, else None
    def stop(self, handles: list[Any]) -> None: ...
    def close(self) -> None: ...


class LocalBackend:
    """At most ``jobs`` point processes at a time on this machine."""

    name = "local"

    def __init__(self, jobs: int, threads: int | None = None) -> None:
        if jobs < 1:
            raise ConfigError(f"--jobs {jobs}: give at least 1")
        self.slots = jobs
        self.threads = threads or max(1, usable_cores() // jobs)

    def start(self, args: list[str], log: Path, gpus: int) -> subprocess.Popen:
        return start_train(args, str(log), point_env(self.threads))

    def done(self, handle: subprocess.Popen) -> int | None:
        return handle.poll()

    def stop(self, handles: list[subprocess.Popen]) -> None:
        for proc in handles:  # all asked at once, then waited for: they stop in parallel
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in handles:
            stop_process(proc)

    def close(self) -> None:
        pass


class RayBackend:
    """Each point a Ray task asking for its CPUs (``threads``) and, on a CUDA device, one GPU. The
    task runs the point's process on whichever node Ray picks: the run folders must be on a path
    every node and the driver share (docs/sweep.md)."""

    name = "ray"

    def __init__(self, jobs: int | None, threads: int | None, address: str | None) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("--backend ray needs Ray: pip install -e '.[ray]' (or pip install 'ray>=2.9'); "
                              "the default backend, local, needs nothing") from None
        self.ray = ray
        self.started_here = not ray.is_initialized()
        if self.started_here:
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            except ConnectionError as err:
                raise ConfigError(f"--address {address}: no Ray cluster there ({err}); start one with "
                                  f"`ray start --head` (docs/sweep.md) or leave --address out") from None
        self.threads = threads or 1
        total = int(ray.cluster_resources().get("CPU", 1))
        self.slots = jobs or max(1, total // self.threads)
        self.remote = ray.remote(max_retries=0)(run_train)

    def start(self, args: list[str], log: Path, gpus: int) -> Any:
        options = {"num_cpus": self.threads, "num_gpus": gpus}
        return self.remote.options(**options).remote(args, str(log), point_env(self.threads))

    def done(self, handle: Any) -> int | None:
        ready, _ = self.ray.wait([handle], timeout=0)
        if not ready:
            return None
        try:
            return int(self.ray.get(handle))
        except Exception:  # noqa: BLE001  (a lost node, a cancelled task: the point failed; it is resumable)
            return -1

    def stop(self, handles: list[Any]) -> None:
        for ref in handles:
            self.ray.cancel(ref)  # KeyboardInterrupt in run_train, which stops its process
        self.ray.wait(handles, num_returns=len(handles), timeout=STOP_WAIT_S + 5)

    def close(self) -> None:
        if self.started_here:
            self.ray.shutdown()
