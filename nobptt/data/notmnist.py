"""The notMNIST sample: 10,000 glyphs of the letters A-J (labels 0-9), 1,000 per letter, 28x28
uint8, bright glyph on a dark background, in MNIST's idx format (docs/bouncing.md#data).

notMNIST is Yaroslav Bulatov's (2011); it has no formal license. This 10k sample of its hand-cleaned
"small" part is the one converted to MNIST's format by the public GitHub repository
davidflanagan/notMNIST-to-MNIST (MIT license, which says it is posted with the author's permission;
``data/notmnist/LICENSE``). It is shipped in the repository's ``data/notmnist/`` like MNIST, so the
Bouncing notMNIST task runs offline; elsewhere it is downloaded from that repository and checked
against the sha256 below. The sample has exact duplicates (9,804 distinct images of 10,000).
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch

from nobptt.data.mnist import ensure_file, read_idx
from nobptt.data.paths import data_roots
from nobptt.errors import DataError

FOLDER = "notmnist"
# upstream keeps MNIST's file names (t10k-*), so the local names differ to tell the two apart
IMAGES, LABELS = "notmnist-small-10k-t10k-images-idx3-ubyte.gz", "notmnist-small-10k-t10k-labels-idx1-ubyte.gz"
SHA256 = {
    IMAGES: "70ae9e06201f2827e5b0a3781a3169d735dd2efc69996b9eeaee7f10ed4044d7",
    LABELS: "1fa03836e01c862542f8eb83463bb951bebec6fcb3efa28dad748c6b38a9021b",
}
_UPSTREAM = "https://raw.githubusercontent.com/davidflanagan/notMNIST-to-MNIST/master/"
URLS = {IMAGES: [_UPSTREAM + "t10k-images-idx3-ubyte.gz"], LABELS: [_UPSTREAM + "t10k-labels-idx1-ubyte.gz"]}
COUNT, PER_CLASS = 10_000, 1_000
LETTERS = "ABCDEFGHIJ"  # label i is the letter LETTERS[i]


@functools.lru_cache(maxsize=2)
def _load(roots: tuple[Path, ...], allow_download: bool, check: bool) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = (read_idx(ensure_file(roots, f"{FOLDER}/{name}", URLS[name], allow_download, check, SHA256))
                      for name in (IMAGES, LABELS))
    if images.shape != (labels.shape[0], 28, 28):
        raise DataError(f"{FOLDER}/{IMAGES}, {FOLDER}/{LABELS}: notMNIST images {images.shape} and labels "
                        f"{labels.shape} do not match (expected (N, 28, 28) and (N,))")
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def load_notmnist(data_dir: str | os.PathLike | None = None, download: bool = True,
                  verify_checksum: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The 10,000-image notMNIST sample: uint8 images (N, 28, 28) and int64 labels 0-9 (= A-J).

    Read from the first data folder that has ``notmnist/`` files (the same search path as MNIST,
    :mod:`nobptt.data.paths`), else downloaded from davidflanagan/notMNIST-to-MNIST and checked."""
    return _load(data_roots(data_dir), download, verify_checksum)
