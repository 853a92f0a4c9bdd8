"""Penn Treebank language modelling as token streams: word level (brsm.md §2.4-2.6) and character
level (bits per character, the SAB and P-TNCN benchmark).

Training streams read ``ptb.train.txt`` at random offsets (with stochastic forgetting); the
held-out stream is one full pass over ``ptb.valid.txt``. The test split is only read by
``nobptt lm evaluate``, once per reported model: nothing is ever chosen on it.
"""
from __future__ import annotations

import os

import torch

from nobptt.data.embeddings import binary_code, cached_skipgram, load_text_vectors
from nobptt.data.ptb import EOL, EOS, Corpus, load_ptb
from nobptt.tasks.tokens import ChunkedTokenStream, ContiguousTokenStream, TokenStream


def sentences(corpus: Corpus) -> list[list[str]]:
    """The corpus as lists of words, each closed by ``<eos>`` (what the skip-gram trains on)."""
    return [[corpus.vocab[i] for i in ids] for ids in corpus.sentences()]


def word_embedding(kind: str, train: Corpus, seed: int = 0) -> torch.Tensor:
    """(V, d) table: "skipgram" (100-d, trained on train, cached), "binary" (28-bit) or a file path."""
    if kind == "skipgram":
        return cached_skipgram(sentences(train), train.vocab, corpus_id="ptb-word-train", seed=seed)
    if kind == "binary":
        return binary_code(len(train.vocab))
    if os.path.exists(kind):
        return load_text_vectors(kind, train.vocab)
    raise ValueError(f"embedding={kind!r} must be 'skipgram', 'binary' or the path of a word2vec text file")


def make_ptb_word(split: str, batch_size: int, seed: int = 0, embedding: str = "skipgram",
                  embedding_seed: int = 0, forget_prob: float = 0.0, max_length: int = 0,
                  data_dir: str | os.PathLike | None = None, download: bool = True,
                  device: torch.device | str = "cpu", streams: str = "random",
                  ) -> TokenStream | ContiguousTokenStream | ChunkedTokenStream:
    """A training stream over PTB train (``streams``: "random" offsets or "contiguous" chunks), or
    one evaluation pass over "valid" or "test"."""
    if streams not in ("random", "contiguous"):
        raise ValueError(f"task.streams={streams!r} must be 'random' or 'contiguous'")
    if streams == "contiguous" and (forget_prob or max_length):
        raise ValueError(f"task.streams='contiguous' reads every chunk from start to end: set "
                         f"task.forget_prob=0 and task.max_length=0 (got {forget_prob}, {max_length})")
    train = load_ptb("train", "word", data_dir, download)
    table = word_embedding(embedding, train, embedding_seed)
    if split == "train" and streams == "contiguous":
        return ContiguousTokenStream(train.ids, table, batch_size, device)
    if split == "train":
        return TokenStream(train.ids, table, batch_size, seed, forget_prob, max_length, device)
    if split not in ("valid", "test"):
        raise ValueError(f"PTB split {split!r} must be train, valid or test")
    corpus = load_ptb(split, "word", data_dir, download)
    return ChunkedTokenStream(corpus.ids, table, batch_size, train.vocab.index(EOS), device)


def make_ptb_char(split: str, batch_size: int, data_dir: str | os.PathLike | None = None, download: bool = True,
                  device: torch.device | str = "cpu") -> ContiguousTokenStream | ChunkedTokenStream:
    """Character-level PTB, one-hot inputs (50 symbols): training reads ptb.char.train.txt as
    ``batch_size`` contiguous chunks (the usual streaming protocol); "valid"/"test" are one pass."""
    train = load_ptb("train", "char", data_dir, download)
    table = torch.eye(len(train.vocab))
    if split == "train":
        return ContiguousTokenStream(train.ids, table, batch_size, device)
    if split not in ("valid", "test"):
        raise ValueError(f"PTB split {split!r} must be train, valid or test")
    corpus = load_ptb(split, "char", data_dir, download)
    return ChunkedTokenStream(corpus.ids, table, batch_size, train.vocab.index(EOL), device)
