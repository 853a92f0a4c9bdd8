"""Where datasets live: an explicit argument, then NOBPTT_DATA, then the project's defaults."""
from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "NOBPTT_DATA"
REPO_DATA = Path(__file__).resolve().parents[2] / "data"  # shipped in a source checkout
CACHE_DATA = Path.home() / ".cache" / "nobptt" / "data"


def resolve_data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The data root, in this order: ``explicit``; ``$NOBPTT_DATA``; the repository's ``data/``
    folder (it ships MNIST, so the default job runs offline); ``~/.cache/nobptt/data``."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return REPO_DATA if REPO_DATA.is_dir() else CACHE_DATA


def find_dataset_dir(name: str, explicit: str | os.PathLike | None = None) -> Path:
    """The folder of dataset ``name`` (e.g. ``"mnist"``) under the resolved data root."""
    return resolve_data_dir(explicit) / name
