"""Registry of tasks: a name maps to a config dataclass and a stream factory."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from nobptt.tasks.base import Stream


@dataclass(frozen=True)
class TaskSpec:
    name: str
    config_cls: type
    # factory(config, split, seed, device) -> Stream; split is "train" or "heldout" (tasks with a
    # separate test set also accept "test", read only by the final evaluation)
    factory: Callable[..., Stream]
    description: str


@dataclass
class SSMNISTConfig:
    grammar: str = "pagi9"  # a name in nobptt.tasks.grammar.GRAMMARS or "2 4 0; 1 3 5"
    batch_size: int = 300  # parallel streams
    fixed_exemplar: bool = False  # one fixed image per digit instead of random exemplars
    eval_batch_size: int = 300
    eval_seed: int = 12345  # the held-out stream is rebuilt from this seed at every evaluation
    data_dir: str = ""  # "" = argument-free resolution: NOBPTT_DATA, then the project's defaults
    download: bool = True  # fetch missing MNIST files (checksummed) when online


def _make_ssmnist(config: SSMNISTConfig, split: str, seed: int, device: str) -> Stream:
    from nobptt.tasks.ssmnist import make_ssmnist

    if split not in ("train", "heldout"):
        raise ValueError(f"ssmnist has no {split!r} stream: its held-out stream already renders MNIST test images")
    heldout = split == "heldout"
    # Held-out streams render MNIST test images; with fixed exemplars there are no unseen images
    # to render, so the held-out stream shows the same fixed training exemplars (a fresh stream).
    images = "test" if heldout and not config.fixed_exemplar else "train"
    return make_ssmnist(split=images, grammar=config.grammar,
                        batch_size=config.eval_batch_size if heldout else config.batch_size,
                        seed=config.eval_seed if heldout else seed,
                        fixed_exemplar=config.fixed_exemplar, data_dir=config.data_dir or None,
                        download=config.download, device=device)


@dataclass
class PTBWordConfig:
    batch_size: int = 300  # parallel training streams
    # random: streams at random offsets, jumping to a new one at the end (bRSM's protocol);
    # contiguous: the corpus cut into batch_size chunks read in parallel, all wrapping together
    # with a fresh state (Zaremba et al.'s protocol; needs forget_prob = 0 and max_length = 0)
    streams: str = "random"
    embedding: str = "skipgram"  # skipgram (fastText-style, 100-d) | binary (28-bit) | path to vectors
    embedding_seed: int = 0
    forget_prob: float = 0.025  # per stream-step probability of forgetting its history (brsm.md §2.4)
    max_length: int = 0  # steps before a stream jumps to a new random offset; 0 = only at the end
    eval_batch_size: int = 10  # held-out pass = ptb.valid.txt cut into this many contiguous chunks
    data_dir: str = ""
    download: bool = True


def _make_ptb_word(config: PTBWordConfig, split: str, seed: int, device: str) -> Stream:
    from nobptt.tasks.ptb import make_ptb_word

    split = "valid" if split == "heldout" else split
    return make_ptb_word(split, config.batch_size if split == "train" else config.eval_batch_size, seed,
                         config.embedding, config.embedding_seed, config.forget_prob, config.max_length,
                         config.data_dir or None, config.download, device, config.streams)


@dataclass
class PTBCharConfig:
    batch_size: int = 32  # contiguous training chunks read in parallel
    eval_batch_size: int = 100  # held-out pass = ptb.char.valid.txt cut into this many chunks
    data_dir: str = ""
    download: bool = True


def _make_ptb_char(config: PTBCharConfig, split: str, seed: int, device: str) -> Stream:
    from nobptt.tasks.ptb import make_ptb_char

    split = "valid" if split == "heldout" else split
    return make_ptb_char(split, config.batch_size if split == "train" else config.eval_batch_size,
                         config.data_dir or None, config.download, device)


@dataclass
class EpisodeConfig:
    T: int = 100  # copying: blanks between the symbols and the marker (length T+20); adding: length
    batch_size: int = 64  # parallel synchronised episodes per update
    encoding: str = "onehot"  # copying input: onehot (10 values) | scalar (the SAB release's one real input)
    eval_T: int = 0  # held-out episodes of another length (transfer); 0 = same as T
    eval_sequences: int = 512  # held-out episodes (the SAB release tests on 512)
    eval_batch_size: int = 512
    eval_seed: int = 12345


def _episodes(task: str):
    def make(config: EpisodeConfig, split: str, seed: int, device: str) -> Stream:
        from nobptt.tasks.episodes import EpisodeStream

        if split == "train":
            return EpisodeStream(task, config.T, config.batch_size, seed, encoding=config.encoding, device=device)
        if config.eval_sequences % config.eval_batch_size:
            raise ValueError(f"task.eval_sequences={config.eval_sequences} must be a multiple of "
                             f"task.eval_batch_size={config.eval_batch_size}")
        # "test" draws from another seed than "heldout" (validation), so selection never sees it
        seed = config.eval_seed + (1 if split == "test" else 0)
        return EpisodeStream(task, config.eval_T or config.T, config.eval_batch_size, seed, heldout=True,
                             episodes=config.eval_sequences // config.eval_batch_size,
                             encoding=config.encoding, device=device)
    return make


_TASKS = {
    "ssmnist": TaskSpec("ssmnist", SSMNISTConfig, _make_ssmnist,
                        "stochastic sequential MNIST: a high-Markov-order digit grammar rendered "
                        "as MNIST exemplars (held-out stream: MNIST test images)"),
    "ptb_word": TaskSpec("ptb_word", PTBWordConfig, _make_ptb_word,
                         "Penn Treebank word level (Mikolov's files): next word from the current word's "
                         "embedding (held-out stream: one pass over ptb.valid.txt)"),
    "ptb_char": TaskSpec("ptb_char", PTBCharConfig, _make_ptb_char,
                         "Penn Treebank character level: next character from the current one (one-hot), "
                         "B contiguous streams (held-out stream: one pass over ptb.char.valid.txt)"),
    "copying": TaskSpec("copying", EpisodeConfig, _episodes("copying"),
                        "copying problem: recall 10 symbols after T blanks (length T+20; chance 1/8)"),
    "adding": TaskSpec("adding", EpisodeConfig, _episodes("adding"),
                       "adding problem: sum of the two marked values of a length-T sequence (chance MSE 1/6)"),
}


def task_specs() -> dict[str, TaskSpec]:
    return dict(_TASKS)


def get_task_spec(name: str) -> TaskSpec:
    if name not in _TASKS:
        raise KeyError(f"unknown task {name!r}; registered tasks: {', '.join(sorted(_TASKS))}")
    return _TASKS[name]
