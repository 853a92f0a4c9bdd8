"""MNIST from the four canonical idx ``.gz`` files, checksummed (the notMNIST sample: nobptt.data.notmnist)."""
from __future__ import annotations

import functools
import gzip
import os
import zlib
from pathlib import Path

import numpy as np
import torch

from nobptt.data.download import DataError, download, verify
from nobptt.data.paths import ENV_VAR, data_roots, download_root, find_file, searched

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
SHA256 = {
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
}
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
           "https://storage.googleapis.com/cvdf-datasets/mnist/")
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Parse an idx file (optionally gzip'ed): magic 0x0000TTDD, then DD big-endian int32 sizes."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
        raise DataError(f"{path}: cannot read ({err}); delete it so it is downloaded again") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an idx file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    offset, count = 4 + 4 * ndim, int(np.prod(shape))
    if len(raw) - offset != count * dtype.itemsize:
        raise DataError(f"{path}: truncated or padded: {len(raw) - offset} bytes of data for shape {shape}")
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape)


def ensure_file(roots: tuple[Path, ...], relative: str, urls: list[str], allow_download: bool, check: bool,
            sha256: dict[str, str] = SHA256) -> Path:
    """The path of ``relative`` (e.g. ``mnist/t10k-labels-idx1-ubyte.gz``) in the first data folder that
    has it, else downloaded (if allowed) into the first writable one; checked so a bad copy fails here."""
    name = Path(relative).name
    path = find_file(relative, roots)
    if path is None:
        if not allow_download:
            raise DataError(f"{relative} not found (looked in {searched(relative, roots)}). Provide it by "
                            f"passing a data folder (task.data_dir), setting {ENV_VAR} to a folder containing "
                            f"{relative}, or allowing the download (task.download=true).")
        return download(urls, download_root(relative, roots) / relative, sha256[name])
    if check:
        verify(path, sha256[name])
    return path


def _mnist_file(roots: tuple[Path, ...], name: str, allow_download: bool, check: bool) -> Path:
    return ensure_file(roots, f"mnist/{name}", [m + name for m in MIRRORS], allow_download, check)


@functools.lru_cache(maxsize=4)
def _load(roots: tuple[Path, ...], split: str, allow_download: bool, check: bool) -> tuple[torch.Tensor, torch.Tensor]:
    image_file, label_file = FILES[split]
    image_path = _mnist_file(roots, image_file, allow_download, check)
    label_path = _mnist_file(roots, label_file, allow_download, check)
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
        raise DataError(f"{image_path}, {label_path}: MNIST {split} images {images.shape} and labels "
                        f"{labels.shape} do not match")
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def load_mnist(split: str, data_dir: str | os.PathLike | None = None, download: bool = True,
               verify_checksum: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST ``split`` ("train": 60k, "test": 10k) as uint8 images (N, 28, 28) and int64 labels.

    Each file is read from the first data folder that has it (``data_dir``, ``$NOBPTT_DATA``, the
    repository's ``data/``, ``~/.cache/nobptt/data``: see :mod:`nobptt.data.paths`)."""
    if split not in FILES:
        raise ValueError(f"MNIST split {split!r} must be one of {sorted(FILES)}")
    return _load(data_roots(data_dir), split, download, verify_checksum)
