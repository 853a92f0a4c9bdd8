"""Word embeddings for the language-modelling tasks (docs/ptb.md#the-brsm-model).

* ``skipgram``: a fastText-style skip-gram (character n-grams 3-6) trained with gensim on the
  training corpus only, with fastText's defaults where the reference used them (100-d, window 5,
  lr 0.05, 5 negatives, sub-sampling 1e-4, minimum count 1, 5 epochs). Cached on disk, keyed by the
  corpus and every setting, so a run reuses it; deterministic for a seed (one worker thread and a
  hash function that does not depend on Python's per-process string hashing).
* ``binary``: the original RSM's 28-bit code, the 14-bit binary word index followed by its
  complement (not semantic; the "no embedding" ablation).
* a path to vectors in word2vec text format (``word v1 ... vd`` per line, optional ``count dim``
  header), for external embeddings.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from nobptt.data.download import DataError

CACHE_ENV = "NOBPTT_CACHE"
SKIPGRAM_DEFAULTS = {"dim": 100, "window": 5, "lr": 0.05, "negative": 5, "sample": 1e-4, "min_count": 1,
                     "epochs": 5, "min_n": 3, "max_n": 6, "bucket": 2_000_000}


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "nobptt") / "embeddings"


def _stable_hash(text: str) -> int:
    """Replaces Python's salted ``hash`` in gensim's vector initialisation, for reproducibility."""
    return zlib.crc32(text.encode("utf-8"))


def train_skipgram(sentences: Sequence[Sequence[str]], vocab: Sequence[str], seed: int = 0,
                   **settings: float) -> torch.Tensor:
    """(len(vocab), dim) skip-gram vectors for ``vocab``, trained on ``sentences``."""
    from gensim.models import FastText

    unknown = set(settings) - set(SKIPGRAM_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown skip-gram setting(s) {sorted(unknown)}; known: {sorted(SKIPGRAM_DEFAULTS)}")
    s = {**SKIPGRAM_DEFAULTS, **settings}
    model = FastText(sg=1, vector_size=int(s["dim"]), window=int(s["window"]), alpha=s["lr"],
                     negative=int(s["negative"]), sample=s["sample"], min_count=int(s["min_count"]),
                     epochs=int(s["epochs"]), min_n=int(s["min_n"]), max_n=int(s["max_n"]),
                     bucket=int(s["bucket"]), seed=seed, workers=1, hashfxn=_stable_hash)
    model.build_vocab(corpus_iterable=sentences)
    model.train(corpus_iterable=sentences, total_examples=len(sentences), epochs=model.epochs)
    # Every word has a vector (out-of-vocabulary words from their n-grams; none for PTB's train vocab).
    return torch.from_numpy(np.stack([model.wv[w] for w in vocab]).astype(np.float32))


def cached_skipgram(sentences: Sequence[Sequence[str]], vocab: Sequence[str], corpus_id: str,
                    seed: int = 0, **settings: float) -> torch.Tensor:
    """:func:`train_skipgram`, stored under :func:`cache_dir` and reused when nothing changed."""
    key = json.dumps({"corpus": corpus_id, "seed": seed, "vocab": hashlib.sha256("\n".join(vocab).encode()).hexdigest(),
                      **SKIPGRAM_DEFAULTS, **settings}, sort_keys=True)
    path = cache_dir() / f"skipgram-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npy"
    if path.exists():
        vectors = np.load(path)
        if vectors.shape[0] == len(vocab):
            return torch.from_numpy(vectors)
    vectors = train_skipgram(sentences, vocab, seed, **settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".npy", dir=path.parent)
    with os.fdopen(fd, "wb") as handle:
        np.save(handle, vectors.numpy())
    os.replace(tmp, path)  # atomic: a crash never leaves a half-written cache entry
    path.with_suffix(".json").write_text(key)
    return vectors


def binary_code(vocab_size: int, bits: int = 14) -> torch.Tensor:
    """(vocab_size, 2*bits) codes: the binary word index then its complement (original RSM, §1.5)."""
    if vocab_size > 2 ** bits:
        raise ValueError(f"a {bits}-bit code cannot index {vocab_size} words")
    index = torch.arange(vocab_size).unsqueeze(1)
    code = ((index >> torch.arange(bits - 1, -1, -1)) & 1).float()
    return torch.cat([code, 1.0 - code], dim=1)


def load_text_vectors(path: str | os.PathLike, vocab: Sequence[str], missing: str = "error") -> torch.Tensor:
    """Vectors for ``vocab`` from a word2vec text file; ``missing`` = "error" or "zero"."""
    path = Path(path)
    if missing not in ("error", "zero"):
        raise ValueError(f"missing={missing!r} must be 'error' or 'zero'")
    if not path.exists():
        raise DataError(f"embedding file {path} not found")
    wanted = set(vocab)
    found: dict[str, np.ndarray] = {}
    dim = None
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            parts = line.rstrip().split(" ")
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # "count dim" header
            if dim is None:
                dim = len(parts) - 1
            if len(parts) - 1 != dim:
                raise DataError(f"{path}:{number}: {len(parts) - 1} values, expected {dim} like line 1")
            if parts[0] in wanted:
                try:
                    found[parts[0]] = np.asarray(parts[1:], dtype=np.float32)
                except ValueError as err:
                    raise DataError(f"{path}:{number}: not a number ({err})") from err
    absent = [w for w in vocab if w not in found]
    if dim is None:
        raise DataError(f"embedding file {path} is empty")
    if absent and missing == "error":
        raise DataError(f"{path}: {len(absent)} of {len(vocab)} words have no vector (first: {absent[:5]}); "
                        "pass missing='zero' to give them zero vectors")
    out = np.zeros((len(vocab), dim), dtype=np.float32)
    for i, w in enumerate(vocab):
        if w in found:
            out[i] = found[w]
    return torch.from_numpy(out)
