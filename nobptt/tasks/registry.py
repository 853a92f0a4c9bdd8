"""Registry of tasks: a name maps to a config dataclass and a stream factory."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from nobptt.tasks.base import Stream


@dataclass(frozen=True)
class TaskSpec:
    name: str
    config_cls: type
    # factory(config, split, seed, device) -> Stream; split is "train" or "heldout"
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

    heldout = split == "heldout"
    # Held-out streams render MNIST test images; with fixed exemplars there are no unseen images
    # to render, so the held-out stream shows the same fixed training exemplars (a fresh stream).
    images = "test" if heldout and not config.fixed_exemplar else "train"
    return make_ssmnist(split=images, grammar=config.grammar,
                        batch_size=config.eval_batch_size if heldout else config.batch_size,
                        seed=config.eval_seed if heldout else seed,
                        fixed_exemplar=config.fixed_exemplar, data_dir=config.data_dir or None,
                        download=config.download, device=device)


_TASKS = {
    "ssmnist": TaskSpec("ssmnist", SSMNISTConfig, _make_ssmnist,
                        "stochastic sequential MNIST: a high-Markov-order digit grammar rendered "
                        "as MNIST exemplars (held-out stream: MNIST test images)"),
}


def task_specs() -> dict[str, TaskSpec]:
    return dict(_TASKS)


def get_task_spec(name: str) -> TaskSpec:
    if name not in _TASKS:
        raise KeyError(f"unknown task {name!r}; registered tasks: {', '.join(sorted(_TASKS))}")
    return _TASKS[name]
