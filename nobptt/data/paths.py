"""Where datasets live: a search path of data folders, the first that has a file wins.

The folders, in order: an explicit argument (``task.data_dir``, ``--data-dir``); ``$NOBPTT_DATA``;
the repository's ``data/`` folder (a source checkout ships MNIST there, so the default job runs
offline); ``~/.cache/nobptt/data``. A file is read from the first folder that has it, so pointing
``NOBPTT_DATA`` at a folder with only PTB still finds the shipped MNIST. A missing file is
downloaded into the first folder that can be written, and a failed download leaves no folder behind.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from nobptt.errors import DataError

ENV_VAR = "NOBPTT_DATA"
REPO_DATA = Path(__file__).resolve().parents[2] / "data"  # shipped in a source checkout
CACHE_DATA = Path.home() / ".cache" / "nobptt" / "data"


def data_roots(explicit: str | os.PathLike | None = None) -> tuple[Path, ...]:
    """The data folders to search, in order, without repeats: ``explicit``; ``$NOBPTT_DATA``; the
    repository's ``data/`` (only in a source checkout, where it exists); ``~/.cache/nobptt/data``."""
    roots: list[Path] = []
    if explicit:
        roots.append(Path(explicit).expanduser())
    if os.environ.get(ENV_VAR):
        roots.append(Path(os.environ[ENV_VAR]).expanduser())
    if REPO_DATA.is_dir():
        roots.append(REPO_DATA)
    roots.append(CACHE_DATA)
    unique: dict[Path, None] = {}
    for root in roots:
        unique.setdefault(Path(os.path.abspath(root)), None)
    return tuple(unique)


def resolve_data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The first data folder of the search path (see :func:`data_roots`)."""
    return data_roots(explicit)[0]


def find_file(relative: str, roots: tuple[Path, ...]) -> Path | None:
    """``root / relative`` for the first root that has it (e.g. ``"mnist/t10k-labels-idx1-ubyte.gz"``)."""
    for root in roots:
        if (root / relative).is_file():
            return root / relative
    return None


def _writable(folder: Path) -> bool:
    """Whether ``folder`` exists as a writable folder, or could be created under one."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)


def download_root(relative: str, roots: tuple[Path, ...]) -> Path:
    """The first root where ``relative`` can be written (the download target)."""
    for root in roots:
        if _writable((root / relative).parent):
            return root
    raise DataError(f"{relative} not found and none of the data folders can be written: "
                    + ", ".join(str(r) for r in roots)
                    + f". Copy the file into one of them, or set {ENV_VAR} to a writable folder.")


def searched(relative: str, roots: tuple[Path, ...]) -> str:
    """The folders looked in for ``relative``, for error messages."""
    return ", ".join(str((root / relative).parent) for root in roots)


@contextlib.contextmanager
def folder_for_download(folder: Path) -> Iterator[Path]:
    """Create ``folder`` (and missing parents) for a download; if the body fails, remove the
    folders this created that are still empty, so a failed download leaves nothing behind."""
    missing: list[Path] = []
    probe = folder
    while not probe.exists() and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    except BaseException:
        for created in missing:  # deepest first
            try:
                created.rmdir()
            except OSError:
                break  # not empty (or gone): keep it and everything above it
        raise
