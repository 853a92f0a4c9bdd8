"""Checksummed downloads, written atomically, with errors that say what to do."""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path


from nobptt.data.paths import folder_for_download
from nobptt.errors import DataError  # noqa: F401  (re-exported: nobptt.data.download.DataError)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks so large files need little memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, sha256: str) -> None:
    """Raise DataError unless ``path`` has this sha256: a silently corrupt dataset skews every result."""
    actual = sha256_of(path)
    if actual != sha256:
        raise DataError(f"{path}: checksum mismatch (sha256 {actual}, expected {sha256}). The file is "
                        f"corrupt or a different version: delete it so it is downloaded again, or point "
                        f"NOBPTT_DATA at a folder with a good copy.")


def download(urls: list[str], dest: Path, sha256: str, timeout: float = 30.0) -> Path:
    """Fetch ``dest`` from the first mirror that works; the file appears only once verified."""
    dest = Path(dest)
    with folder_for_download(dest.parent):  # a failed download leaves no new (empty) folder behind
        return _download(urls, dest, sha256, timeout)


def _download(urls: list[str], dest: Path, sha256: str, timeout: float) -> Path:
    failures = []
    for url in urls:
        fd, tmp = tempfile.mkstemp(prefix=dest.name, suffix=".part", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
            verify(Path(tmp), sha256)
            os.replace(tmp, dest)
            return dest
        except (OSError, DataError) as err:
            failures.append(f"{url}: {err}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise DataError(f"could not download {dest.name} (the machine may be offline). Tried:\n  "
                    + "\n  ".join(failures)
                    + f"\nCopy the file into {dest.parent}, or set NOBPTT_DATA to a folder that has it.")
