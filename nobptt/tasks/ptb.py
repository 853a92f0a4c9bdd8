"""Penn Treebank language modelling as token streams: word level (docs/ptb.md#the-protocol) and character
level (bits per character, the SAB and P-TNCN benchmark), the latter as one stream (``ptb_char``, the
usual protocol) or one episode per sentence (``ptb_char_sentences``, the official P-TNCN code's
protocol, docs/ptb.md#character-ptb-per-sentence).

Training streams read ``ptb.train.txt`` at random offsets (with stochastic forgetting); the
held-out stream is one full pass over ``ptb.valid.txt``. The test split is only read by
``nobptt lm evaluate``, once per reported model: nothing is ever chosen on it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from nobptt.data.embeddings import binary_code, cached_skipgram, load_text_vectors
from nobptt.data.ptb import EOL, EOS, Corpus, load_ptb
from nobptt.data.unigram import unigram_floor
from nobptt.errors import ConfigError
from nobptt.tasks.registry import register_task
from nobptt.tasks.sentences import PACKINGS, PaddedSentenceStream, RefillSentenceStream, SentencePass, Sentences
from nobptt.tasks.tokens import ChunkedTokenStream, ContiguousTokenStream, TokenStream
from nobptt.tasks.windows import WindowPass, WindowStream
from nobptt.validation import check_ranges


@dataclass
class PTBWordConfig:
    batch_size: int = 300  # parallel training streams
    # random: streams at random offsets, jumping to a new one at the end (bRSM's protocol);
    # contiguous: the corpus cut into batch_size chunks read in parallel, all wrapping together
    # with a fresh state (Zaremba et al.'s protocol; needs forget_prob = 0 and max_length = 0)
    streams: str = "random"
    embedding: str = "skipgram"  # skipgram (fastText-style, 100-d) | binary (28-bit) | path to vectors
    embedding_seed: int = 0
    forget_prob: float = 0.025  # per stream-step probability of forgetting its history (docs/ptb.md#the-protocol)
    max_length: int = 0  # steps before a stream jumps to a new random offset; 0 = only at the end
    eval_batch_size: int = 10  # held-out pass = ptb.valid.txt cut into this many contiguous chunks
    data_dir: str = ""
    download: bool = True

    def __post_init__(self) -> None:
        check_ranges(self, positive="batch_size eval_batch_size", non_negative="embedding_seed max_length",
                     unit="forget_prob")


@dataclass
class PTBCharConfig:
    batch_size: int = 32  # contiguous training chunks (or, windowed, windows) read in parallel
    eval_batch_size: int = 100  # held-out pass = ptb.char.valid.txt cut into this many chunks (windows)
    # stream: state carried through the whole text, every character scored (the usual protocol);
    # windows: the HRHN release's (Suarez 2017): every window of ``window`` inputs starts from a
    # zero state; training reads random windows, evaluation windows every ``scored`` characters and
    # scores only their last ``scored`` predictions (nobptt.tasks.windows, docs/cells.md)
    protocol: str = "stream"
    window: int = 100
    scored: int = 5
    data_dir: str = ""
    download: bool = True

    def __post_init__(self) -> None:
        check_ranges(self, positive="batch_size eval_batch_size window scored")
        if self.protocol not in CHAR_PROTOCOLS:
            raise ConfigError(f"task.protocol={self.protocol!r} must be one of {', '.join(CHAR_PROTOCOLS)}")
        if self.scored > self.window:
            raise ConfigError(f"task.scored={self.scored} must be at most task.window={self.window}")


CHAR_PROTOCOLS = ("stream", "windows")


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


def _split(split: str) -> str:
    """The corpus file of a stream split: "heldout" is PTB's validation text."""
    split = "valid" if split == "heldout" else split
    if split not in ("train", "valid", "test"):
        raise ValueError(f"PTB split {split!r} must be train, heldout (valid) or test")
    return split


@register_task("ptb_word", config=PTBWordConfig,
               description="Penn Treebank word level (Mikolov's files): next word from the current word's "
                           "embedding (held-out stream: one pass over ptb.valid.txt)")
def make_ptb_word(config: PTBWordConfig, split: str, seed: int = 0, device: torch.device | str = "cpu",
                  ) -> TokenStream | ContiguousTokenStream | ChunkedTokenStream:
    """A training stream over PTB train (``config.streams``: "random" offsets or "contiguous"
    chunks), or one evaluation pass over "heldout" (= "valid") or "test"."""
    c, split = config, _split(split)
    if c.streams not in ("random", "contiguous"):
        raise ValueError(f"task.streams={c.streams!r} must be 'random' or 'contiguous'")
    if c.streams == "contiguous" and (c.forget_prob or c.max_length):
        raise ValueError(f"task.streams='contiguous' reads every chunk from start to end: set "
                         f"task.forget_prob=0 and task.max_length=0 (got {c.forget_prob}, {c.max_length})")
    data_dir = c.data_dir or None
    train = load_ptb("train", "word", data_dir, c.download)
    table = word_embedding(c.embedding, train, c.embedding_seed)
    if split == "train" and c.streams == "contiguous":
        return ContiguousTokenStream(train.ids, table, c.batch_size, device)
    if split == "train":
        return TokenStream(train.ids, table, c.batch_size, seed, c.forget_prob, c.max_length, device)
    corpus = load_ptb(split, "word", data_dir, c.download)
    return ChunkedTokenStream(corpus.ids, table, c.eval_batch_size, train.vocab.index(EOS), device)


@register_task("ptb_char", config=PTBCharConfig,
               description="Penn Treebank character level: next character from the current one (one-hot), "
                           "B contiguous streams (held-out stream: one pass over ptb.char.valid.txt); "
                           "task.protocol=windows: the HRHN release's zero-state 100-character windows")
def make_ptb_char(config: PTBCharConfig, split: str, seed: int = 0, device: torch.device | str = "cpu",
                  ) -> ContiguousTokenStream | ChunkedTokenStream | WindowStream | WindowPass:
    """Character-level PTB, one-hot inputs (50 symbols). Stream protocol: training reads
    ptb.char.train.txt as ``batch_size`` contiguous chunks; "heldout" (= "valid") and "test" are
    one pass (``seed`` is unused). Windowed protocol: training reads random windows (``seed``),
    evaluation the overlapping windows of nobptt.tasks.windows."""
    c, split, data_dir = config, _split(split), config.data_dir or None
    train = load_ptb("train", "char", data_dir, c.download)
    table = torch.eye(len(train.vocab))
    # the floor printed beside the scores: the held-out file's while training (the test file is
    # read only by the final evaluation), the evaluated file's otherwise, over the targets scored
    # (every one in the stream protocol; from window - scored + 1 on when windowed)
    evaluated = load_ptb("valid" if split == "train" else split, "char", data_dir, c.download)
    first_scored = c.window - c.scored + 1 if c.protocol == "windows" else 0  # index of the first scored target
    floor = unigram_floor(train.ids, evaluated.ids[first_scored:], len(train.vocab))
    if c.protocol == "windows":
        if split == "train":
            return WindowStream(train.ids, table, c.batch_size, c.window, seed, device, floor)
        return WindowPass(evaluated.ids, table, c.eval_batch_size, c.window, c.scored, device, floor)
    if split == "train":
        return ContiguousTokenStream(train.ids, table, c.batch_size, device, floor)
    return ChunkedTokenStream(evaluated.ids, table, c.eval_batch_size, train.vocab.index(EOL), device, floor)


@dataclass
class PTBCharSentencesConfig:
    # parallel training streams (the official code's mini-batch of 50 sentences)
    batch_size: int = 50
    # held-out / test pass: this many streams (the official code's evaluation batch of 100)
    eval_batch_size: int = 100
    # padded: batches of sentences start together, padded to the longest (the official code's;
    # needed by learners of synchronised episodes: SAB, full BPTT); refill: a stream starts its next
    # sentence as soon as its own ends (no padding). Both score the same targets.
    packing: str = "padded"
    # append the end-of-line symbol to every sentence, so that it is predicted and scored; the
    # official code's 49 symbols have none (false = its scored set: every character but the first)
    eol: bool = False
    data_dir: str = ""
    download: bool = True

    def __post_init__(self) -> None:
        check_ranges(self, positive="batch_size eval_batch_size")
        if self.packing not in PACKINGS:
            raise ConfigError(f"task.packing={self.packing!r} must be one of {', '.join(PACKINGS)}")


def char_sentences(corpus: Corpus, eol: bool = False) -> Sentences:
    """The corpus's sentences (lines), each with its end-of-line symbol only if ``eol``."""
    return Sentences.from_lines(corpus.ids, corpus.vocab.index(EOL), keep_closing=eol)


@register_task("ptb_char_sentences", config=PTBCharSentencesConfig,
               description="Penn Treebank character level, one episode per sentence (the official P-TNCN "
                           "protocol): state reset at each sentence, its first character not scored")
def make_ptb_char_sentences(config: PTBCharSentencesConfig, split: str, seed: int = 0,
                            device: torch.device | str = "cpu",
                            ) -> PaddedSentenceStream | RefillSentenceStream | SentencePass:
    """Character PTB under the per-sentence protocol (nobptt.tasks.sentences): training streams
    read ptb.char.train.txt's sentences in a random order (``seed``); "heldout" (= "valid") and
    "test" are one pass over the file's sentences in order. One-hot inputs over the 50 symbols
    (the end-of-line one is never shown nor scored unless ``task.eol``)."""
    c, split = config, _split(split)
    data_dir = c.data_dir or None
    train = load_ptb("train", "char", data_dir, c.download)
    table = torch.eye(len(train.vocab))
    train_sentences = char_sentences(train, c.eol)
    evaluated = char_sentences(load_ptb("valid" if split == "train" else split, "char", data_dir, c.download),
                               c.eol)
    # the floor of the scored symbols (as for ptb_char: the held-out file's while training)
    floor = unigram_floor(train_sentences.scored(), evaluated.scored(), len(train.vocab))
    if split == "train":
        stream = PaddedSentenceStream if c.packing == "padded" else RefillSentenceStream
        return stream(train_sentences, table, c.batch_size, seed, floor, device)
    return SentencePass(evaluated, table, c.eval_batch_size, c.packing, floor, device)
