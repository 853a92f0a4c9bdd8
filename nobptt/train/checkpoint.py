"""Atomic checkpoints (and JSON records): write to a temporary file in the same folder, then
rename over the old one.

A crash or a full disk mid-write therefore never destroys the last good checkpoint.

Each checkpoint has its SHA-256 beside it (``checkpoint.pt.sha256``, in ``sha256sum`` format) and
is verified on load: a truncated, emptied or altered file is named as damaged (``DamagedFileError``)
instead of failing inside torch or loading silently. While a new checkpoint replaces the old one
the checksum file lists both digests, so a crash between the two renames leaves a file that
verifies. ``keep_previous`` keeps the checkpoint being replaced as ``NAME.prev.pt`` (with its own
checksum), which a damaged checkpoint's message offers. Checkpoints written before checksums
existed load as before, unverified (said once per file).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from nobptt.errors import DamagedFileError
from nobptt.train import faults

_UNVERIFIED_NOTED: set[str] = set()


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


def _write_atomically(path: Path, write: Callable[[Any], None], fault: str = "") -> None:
    """Write ``path`` through ``write(binary handle)`` into a temporary file, then rename it over
    ``path``: a crash leaves the old file or the new one, never half of one (and, at worst, the
    temporary file, which the next run in the folder removes: ``nobptt.run``). ``fault``: the
    fault point (``nobptt.train.faults``) just before the rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if fault:
            faults.hit(fault)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def checksum_path(path: Path) -> Path:
    return Path(str(path) + ".sha256")


def previous_path(path: Path) -> Path:
    """``checkpoint.pt`` -> ``checkpoint.prev.pt``: the checkpoint kept from before the latest."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_checksums(path: Path, digests: list[str]) -> None:
    text = "".join(f"{digest}  {Path(path).name}\n" for digest in digests)
    _write_atomically(checksum_path(path), lambda handle: handle.write(text.encode()), "checkpoint")


def _read_checksums(path: Path, strict: bool = True) -> list[str] | None:
    """The digests ``path`` may have (None: no checksum file, a checkpoint from before them).

    A checksum file that is not one to two ``sha256sum`` lines naming ``path`` is itself damaged:
    ``strict`` raises DamagedFileError naming it (rather than calling the checkpoint damaged),
    otherwise it counts as no digest ([])."""
    sums = checksum_path(path)
    try:
        data = sums.read_bytes()
    except FileNotFoundError:
        return None
    digests = []
    try:
        for line in data.decode("ascii").splitlines():
            digest = line.split("  ", 1)[0]  # the name may differ: a checkpoint moved in place keeps its file
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(line)
            digests.append(digest)
    except ValueError:
        digests = []
    if digests:
        return digests
    if not strict:
        return []
    raise DamagedFileError(
        f"checksum file {sums} is damaged ({'empty' if not data else 'not sha256sum lines'}), "
        f"so {path} cannot be verified. {_offer_previous(path)} If you trust {path} itself, delete {sums}: "
        f"it then loads unverified.")


def verify(path: Path) -> bytes:
    """The bytes of the checkpoint at ``path``, checked against its checksum file (if any);
    ``DamagedFileError`` naming the file (and the previous checkpoint, when that one verifies)."""
    path = Path(path)
    data = path.read_bytes()
    digests = _read_checksums(path)
    problem = None
    if not data:
        problem = "is empty"
    elif digests is not None and _digest(data) not in digests:
        problem = (f"does not match its checksum ({checksum_path(path).name}): it (or, less likely, the "
                   f"checksum file) is truncated or altered")
    if problem:
        raise DamagedFileError(f"checkpoint {path} is damaged: it {problem}. {_offer_previous(path)}")
    return data


def _offer_previous(path: Path) -> str:
    prev = previous_path(path)
    if prev != path and prev.exists() and _read_checksums(prev, strict=False) is not None:
        try:
            verify(prev)
        except (DamagedFileError, OSError):
            return f"The previous checkpoint {prev} is damaged too; start the run again."
        return (f"The previous checkpoint {prev} is intact; continue from it with `nobptt train --resume "
                f"{path.parent} --checkpoint {prev.name}` (the work after it is redone; the damaged file is "
                f"replaced by the next checkpoint), or evaluate it with `nobptt eval {path.parent} "
                f"--checkpoint {prev.name}`.")
    return "No previous checkpoint is kept; start the run again (or restore the file from a copy)."


def save_checkpoint(payload: dict[str, Any], path: Path, keep_previous: bool = False) -> None:
    """``payload`` at ``path``, atomically, with its checksum beside it; ``keep_previous``: the
    checkpoint it replaces (when that one verifies) is kept as ``previous_path(path)``."""
    path = Path(path)
    buffer = io.BytesIO()
    torch.save(portable(payload), buffer)
    data = buffer.getvalue()
    digest = _digest(data)
    old = _read_checksums(path, strict=False) if path.exists() else None
    if keep_previous and old:
        try:
            old_data = verify(path)
        except DamagedFileError:
            old_data = None
        if old_data is not None:  # a hard link would do, but a copy works on every file system
            _replace_verified(previous_path(path), old_data)
    _replace_verified(path, data, old)


def _replace_verified(path: Path, data: bytes, old: list[str] | None = None) -> None:
    """Put ``data`` at ``path`` with its checksum. The checksum file lists the new digest and the
    old one(s) while the file is being replaced, so that a crash between the two renames still
    leaves a file that verifies (the old one, or the new)."""
    if old is None:
        old = (_read_checksums(path, strict=False) or []) if path.exists() else []
    digest = _digest(data)
    _write_checksums(path, [digest, *[d for d in old if d != digest]])
    _write_atomically(path, lambda handle: handle.write(data), "checkpoint")
    _write_checksums(path, [digest])


def save_json(value: Any, path: Path, indent: int = 2) -> None:
    """``value`` as JSON at ``path``, written atomically (run configs, result records)."""
    _write_atomically(path, lambda handle: handle.write(json.dumps(value, indent=indent).encode()), "json")


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; was the run started with checkpoints on?")
    data = verify(path)
    if _read_checksums(path) is None and str(path) not in _UNVERIFIED_NOTED:
        _UNVERIFIED_NOTED.add(str(path))
        print(f"note: {path} has no checksum file (written before checksums existed); loaded unverified",
              file=sys.stderr)
    try:
        # Our own files hold dataclasses and RNG states, so they are not weights-only pickles.
        ckpt = torch.load(io.BytesIO(data), map_location=map_location, weights_only=False)
    except Exception as err:  # a damaged file fails in zipfile, pickle or torch, each in its own way
        raise DamagedFileError(f"checkpoint {path} is damaged: it cannot be read ({type(err).__name__}: "
                               f"{err}). {_offer_previous(path)}") from err
    if not isinstance(ckpt, dict):
        raise DamagedFileError(f"checkpoint {path} is damaged: it holds a {type(ckpt).__name__}, not a "
                               f"checkpoint. {_offer_previous(path)}")
    return ckpt
