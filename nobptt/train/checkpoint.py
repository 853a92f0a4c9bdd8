"""Atomic checkpoints (and JSON records): write to a temporary file in the same folder, then
rename over the old one.

A crash or a full disk mid-write therefore never destroys the last good checkpoint.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def portable(value: Any) -> Any:
    """Detach tensors and drop transient entries (keys starting with "_", e.g. open graphs)."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items() if not (isinstance(k, str) and k.startswith("_"))}
    if isinstance(value, (list, tuple)):
        return type(value)(portable(v) for v in value)
    if hasattr(value, "__dataclass_fields__"):
        return type(value)(**{k: portable(v) for k, v in vars(value).items()})
    return value


def _write_atomically(path: Path, write: Callable[[Any], None]) -> None:
    """Write ``path`` through ``write(binary handle)`` into a temporary file, then rename it over
    ``path``: a crash leaves the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_checkpoint(payload: dict[str, Any], path: Path) -> None:
    _write_atomically(path, lambda handle: torch.save(portable(payload), handle))


def save_json(value: Any, path: Path, indent: int = 2) -> None:
    """``value`` as JSON at ``path``, written atomically (run configs, result records)."""
    _write_atomically(path, lambda handle: handle.write(json.dumps(value, indent=indent).encode()))


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; was the run started with checkpoints on?")
    # Our own files hold dataclasses and RNG states, so they are not weights-only pickles.
    return torch.load(path, map_location=map_location, weights_only=False)
