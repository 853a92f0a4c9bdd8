"""Atomic checkpoints: write to a temporary file in the same folder, then rename over the old one.

A crash or a full disk mid-write therefore never destroys the last good checkpoint.
"""
from __future__ import annotations

import os
import tempfile
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


def save_checkpoint(payload: dict[str, Any], path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(portable(payload), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; was the run started with checkpoints on?")
    # Our own files hold dataclasses and RNG states, so they are not weights-only pickles.
    return torch.load(path, map_location=map_location, weights_only=False)
