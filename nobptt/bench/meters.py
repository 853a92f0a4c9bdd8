"""Memory meters that count what a training update really holds (not what an allocator caches).

* :class:`SavedTensorMeter` counts the bytes autograd saves for backward, through
  ``torch.autograd.graph.saved_tensors_hooks``: the activation memory that BPTT pays per step.
* :func:`tensor_bytes` counts the persistent state exactly (parameters, optimizer state, recurrent
  state, windows of stored inputs), deduplicating tensors that share storage.
* :func:`peak_rss_bytes` / :func:`reset_peak_rss` read and reset the process's resident high-water
  mark (Linux ``VmHWM`` / ``clear_refs``), so a benchmark can measure its peak above a baseline.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import torch


def _storage_key(t: torch.Tensor) -> tuple[int, int]:
    storage = t.untyped_storage()
    return storage.data_ptr(), storage.nbytes()


class SavedTensorMeter:
    """Context manager: bytes of distinct storages saved for backward since the last ``reset``.

    Tensors sharing a storage (views, or a parameter saved by several ops) are counted once.
    ``peak`` keeps the largest count seen between resets, i.e. the most activation memory any
    single update had to hold.
    """

    def __init__(self, exclude: torch.nn.Module | None = None) -> None:
        # Parameters and buffers are persistent state, not activations: never count them here.
        self._persistent = {_storage_key(t) for t in exclude.state_dict().values()} if exclude else set()
        self._seen: set[tuple[int, int]] = set()
        self.current = 0
        self.peak = 0
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda packed: packed)

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        key = _storage_key(tensor)
        if key not in self._seen and key not in self._persistent:
            self._seen.add(key)
            self.current += key[1]
            self.peak = max(self.peak, self.current)
        return tensor

    def reset(self) -> None:
        """Call after each optimizer update: the graph holding the saved tensors is gone."""
        self._seen.clear()
        self.current = 0

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


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False
