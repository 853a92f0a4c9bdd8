"""Memory meters that count what a training update really holds (not what an allocator caches).

* :class:`SavedTensorMeter` counts the bytes autograd saves for backward, through
  ``torch.autograd.graph.saved_tensors_hooks``: the activation memory that BPTT pays per step.
* :func:`tensor_bytes` counts the persistent state exactly (parameters, optimizer state, recurrent
  state, windows of stored inputs), deduplicating tensors that share storage.
* :func:`peak_rss_bytes` / :func:`reset_peak_rss` read and reset the process's resident high-water
  mark (Linux ``VmHWM`` / ``clear_refs``), so a benchmark can measure its peak above a baseline.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, Iterable

import torch


def _storage_key(t: torch.Tensor) -> tuple[int, int]:
    storage = t.untyped_storage()
    return storage.data_ptr(), storage.nbytes()


class _Held:
    """What the pack hook hands autograd instead of the tensor: freed with the graph node that
    saved it, which tells the meter the bytes are no longer held."""

    __slots__ = ("tensor", "key", "meter")

    def __init__(self, tensor: torch.Tensor, key: tuple[int, int] | None, meter: "SavedTensorMeter") -> None:
        self.tensor, self.key, self.meter = tensor, key, meter

    def __del__(self) -> None:
        if self.key is not None:
            self.meter._release(self.key)


class SavedTensorMeter:
    """Context manager: bytes of distinct storages that autograd holds saved for backward.

    ``current`` counts the storages held by live graph nodes (a storage shared by several saved
    tensors, views or a parameter saved by several ops, once); a graph's bytes leave the count
    when its nodes are freed (after ``backward``). ``peak`` is the largest count seen, i.e. the
    most activation memory training ever held at once, also for learners that back-propagate a
    sequence in several pieces.
    """

    def __init__(self, exclude: torch.nn.Module | None = None) -> None:
        # Parameters and buffers are persistent state, not activations: never count them here.
        self._persistent = {_storage_key(t) for t in exclude.state_dict().values()} if exclude else set()
        self._holders: dict[tuple[int, int], int] = {}  # storage -> saved tensors holding it
        self.current = 0
        self.peak = 0
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda held: held.tensor)

    def _pack(self, tensor: torch.Tensor) -> _Held:
        key = _storage_key(tensor)
        if key in self._persistent:
            return _Held(tensor, None, self)
        if key not in self._holders:
            self._holders[key] = 0
            self.current += key[1]
            self.peak = max(self.peak, self.current)
        self._holders[key] += 1
        return _Held(tensor, key, self)

    def _release(self, key: tuple[int, int]) -> None:
        self._holders[key] -= 1
        if not self._holders[key]:
            del self._holders[key]
            self.current -= key[1]

    def reset(self) -> None:
        """Kept for callers that mark optimizer updates; the count follows the graphs by itself."""

    def paused(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` run with this meter's hooks taken off the stack, then put back.

        torch.func's transforms (jacrev, vjp, jvp: the online learners' per-step Jacobians) refuse
        to run while any saved-tensors hook is installed. What they save lives inside one call and
        is freed on return, so it never adds to what autograd holds across steps; it shows in the
        peak resident memory instead (docs/bench.md#the-online-learners)."""
        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            self._hooks.__exit__(None, None, None)
            try:
                return function(*args, **kwargs)
            finally:
                self._hooks.__enter__()
        return run

    def __enter__(self) -> "SavedTensorMeter":
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._hooks.__exit__(*exc)


def _tensors(obj: Any) -> Iterable[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _tensors(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _tensors(value)
    elif hasattr(obj, "__dataclass_fields__"):
        yield from _tensors(vars(obj))


def tensor_bytes(*objs: Any) -> int:
    """Bytes of the distinct storages of every tensor inside ``objs`` (nested dicts/lists/dataclasses)."""
    seen: dict[tuple[int, int], int] = {}
    for obj in objs:
        for t in _tensors(obj):
            key = _storage_key(t)
            seen[key] = key[1]
    return sum(seen.values())


def peak_rss_bytes() -> int:
    """The process's resident high-water mark (Linux VmHWM), 0 where unavailable."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def peak_rss_above(idle: int) -> int:
    """The high-water mark's rise above ``idle`` (its value read right after ``reset_peak_rss``).
    It cannot truly fall below it, but the kernel batches RSS counters per thread, so a reading
    can come out a few pages low (seen: -16 kB); that is read as 0."""
    return max(0, peak_rss_bytes() - idle)


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False
