"""Stochastic sequential MNIST (ssMNIST): a digit grammar rendered as MNIST exemplars (docs/ssmnist.md#the-task).

B parallel streams each walk the grammar: a random subsequence at a random position to start;
at the end of a subsequence the next is drawn uniformly. Every label is rendered as an exemplar of
that digit drawn without replacement from one shuffled pool per digit, shared by all streams and
reshuffled when exhausted (as the Numenta sampler does). Pixels are standardised with the MNIST
mean and standard deviation and flattened to 784 values.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

from nobptt.tasks import grammar as grammars
from nobptt.tasks.base import Batch
from nobptt.tasks.registry import register_task
from nobptt.validation import check_ranges

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # same constants as nobptt.data.mnist


class SSMNISTStream:
    input_dim = 784
    length = None  # endless

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, grammar: list[list[int]],
                 batch_size: int = 300, seed: int = 0, fixed_exemplar: bool = False,
                 device: torch.device | str = "cpu") -> None:
        self.grammar = grammars.validate_grammar(grammar)
        self.batch_size, self.n_classes = batch_size, 10
        self.device = torch.device(device)
        self.fixed_exemplar = fixed_exemplar
        self.pixels = ((images.reshape(len(images), -1).float() / 255 - MNIST_MEAN) / MNIST_STD).to(self.device)
        lengths = [len(s) for s in self.grammar]
        self.lengths = torch.tensor(lengths)
        self.table = torch.zeros(len(self.grammar), max(lengths), dtype=torch.long)
        for i, sub in enumerate(self.grammar):
            self.table[i, : len(sub)] = torch.tensor(sub)
        self.by_digit = [torch.nonzero(labels == d).flatten() for d in range(10)]
        missing = [d for d in set(sum(self.grammar, [])) if len(self.by_digit[d]) == 0]
        if missing:
            raise ValueError(f"the image set has no exemplar of digit(s) {missing} used by the grammar")
        self.gen = torch.Generator().manual_seed(seed)
        # Fixed variant: the first image of each digit in index order, so that training and
        # evaluation streams render the very same exemplar whatever their seeds.
        self.fixed = torch.tensor([int(ix[0]) if len(ix) else -1 for ix in self.by_digit])
        self.pools = [ix[torch.randperm(len(ix), generator=self.gen)] for ix in self.by_digit]
        self.cursors = [0] * 10
        self.sub = torch.randint(0, len(self.grammar), (batch_size,), generator=self.gen)
        self.pos = (torch.rand(batch_size, generator=self.gen) * self.lengths[self.sub]).long()
        self.current = self._render()

    # -- the walk -------------------------------------------------------------------------
    def _advance(self) -> None:
        self.pos += 1
        done = self.pos >= self.lengths[self.sub]
        count = int(done.sum())
        if count:
            self.sub[done] = torch.randint(0, len(self.grammar), (count,), generator=self.gen)
            self.pos[done] = 0

    def _draw(self, digit: int, count: int) -> torch.Tensor:
        """``count`` exemplars of ``digit`` without replacement, reshuffling an exhausted pool."""
        taken = []
        while count:
            pool, start = self.pools[digit], self.cursors[digit]
            if start == len(pool):
                self.pools[digit] = pool[torch.randperm(len(pool), generator=self.gen)]
                self.cursors[digit] = start = 0
                pool = self.pools[digit]
            n = min(count, len(pool) - start)
            taken.append(pool[start: start + n])
            self.cursors[digit] += n
            count -= n
        return torch.cat(taken) if taken else torch.empty(0, dtype=torch.long)

    def _render(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(image indices, labels) for the current step."""
        labels = self.table[self.sub, self.pos]
        if self.fixed_exemplar:
            return self.fixed[labels], labels
        index = torch.empty_like(labels)
        for digit in labels.unique().tolist():
            where = labels == digit
            index[where] = self._draw(digit, int(where.sum()))
        return index, labels

    def next_batch(self) -> Batch:
        index, labels = self.current
        self._advance()
        self.current = self._render()
        nxt_index, nxt_labels = self.current
        to = lambda t: t.to(self.device, non_blocking=True)  # noqa: E731
        return Batch(x=self.pixels[to(index)], label=to(labels), target_x=self.pixels[to(nxt_index)],
                     target_label=to(nxt_labels))

    def ceilings(self) -> dict[str, float]:
        return grammars.ceilings(self.grammar)

    # -- checkpointing ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state(), "pools": [p.clone() for p in self.pools],
                "cursors": list(self.cursors), "sub": self.sub.clone(), "pos": self.pos.clone(),
                "current": tuple(t.clone() for t in self.current)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["gen"])
        self.pools = [p.clone() for p in state["pools"]]
        self.cursors = list(state["cursors"])
        self.sub, self.pos = state["sub"].clone(), state["pos"].clone()
        self.current = tuple(t.clone() for t in state["current"])


def make_ssmnist(split: str = "train", grammar: str | list[list[int]] = "pagi9", batch_size: int = 300,
                 seed: int = 0, fixed_exemplar: bool = False, data_dir: str | os.PathLike | None = None,
                 download: bool = True, device: torch.device | str = "cpu") -> SSMNISTStream:
    """An ssMNIST stream over MNIST ``split`` images ("train" for training, "test" held out)."""
    from nobptt.data.mnist import load_mnist

    images, labels = load_mnist(split, data_dir, download=download)
    return SSMNISTStream(images, labels, grammars.parse_grammar(grammar), batch_size, seed,
                         fixed_exemplar, device)


@dataclass
class SSMNISTConfig:
    grammar: str = "pagi9"  # a name in nobptt.tasks.grammar.GRAMMARS or "2 4 0; 1 3 5"
    batch_size: int = 300  # parallel streams
    fixed_exemplar: bool = False  # one fixed image per digit instead of random exemplars
    eval_batch_size: int = 300
    eval_seed: int = 12345  # the held-out stream is rebuilt from this seed at every evaluation
    data_dir: str = ""  # searched first, then NOBPTT_DATA, then the defaults (nobptt/data/paths.py)
    download: bool = True  # fetch missing MNIST files (checksummed) when online

    def __post_init__(self) -> None:
        check_ranges(self, positive="batch_size eval_batch_size", non_negative="eval_seed")


@register_task("ssmnist", config=SSMNISTConfig,
               description="stochastic sequential MNIST: a high-Markov-order digit grammar rendered "
                           "as MNIST exemplars (held-out stream: MNIST test images)")
def ssmnist_stream(config: SSMNISTConfig, split: str, seed: int, device: str) -> SSMNISTStream:
    """The task's stream for ``split`` ("train" or "heldout")."""
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
