"""Synthetic long-dependency tasks: the copying and adding problems (Hochreiter & Schmidhuber 1997;
the copying variant of Arjovsky et al. 2016 used by SAB, docs/sab.md#the-tasks-and-their-metrics).

Both are episodic: B parallel streams run synchronised episodes of a fixed length, so every
stream starts (``Batch.reset`` all True) and ends (``Batch.ends_sequence``) a sequence at the same
step, and a learner may back-propagate over a whole episode. Episodes are drawn from a seeded
generator, so a stream is deterministic from its seed; a held-out stream is a finite pass over
``eval_sequences`` episodes drawn from its own seed.

* Copying, T blanks: input = 10 symbols from 1..8, T-1 blanks (0), the marker 9, 10 blanks
  (length T+20); target = blank for the first T+10 steps, then the 10 symbols. Inputs are one-hot
  over the 10 input values (``encoding="onehot"``) or, as in the SAB release, the value itself as
  one real input (``encoding="scalar"``). Training scores every step, as the release does (its
  loss averages cross-entropy over all T+20 steps); held-out streams score only the 10 recalled
  symbols (weight 1 there, 0 elsewhere). Chance on a recalled symbol: 1/8; a memoryless model
  that knows when to recall scores ln 8 = 2.079 nats per recalled symbol. ``recall`` sets how
  many symbols (10 above) are remembered, for nets too small for ten (length T + 2 recall).
* Adding, length T: input = (value ~ U(0,1), marker), with one marker in the first half and one
  in the second; target = the sum of the two marked values, read at the last step (regression,
  ``Batch.target_value``; weight 1 at the last step only). Predicting the mean, 1, scores
  MSE = Var(U1 + U2) = 1/6 in expectation; on a finite held-out set of n sums the same constant
  scores 1/6 give or take a standard error of 0.197/sqrt(n) (0.009 for n = 512; the sd of
  (U1 + U2 - 1)^2 is sqrt(1/15 - 1/36)), so a held-out adding stream also reports
  that constant's MSE on exactly its own episodes (``constant_mse``): a model at that level has
  learned nothing beyond the mean.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from nobptt.tasks.base import Batch
from nobptt.tasks.registry import register_task
from nobptt.validation import FieldError, check_ranges

SYMBOLS, RECALL, BLANK, MARKER = 8, 10, 0, 9
COPY_CHANCE_ACCURACY = 1 / SYMBOLS
COPY_CHANCE_NLL = math.log(SYMBOLS)
ADDING_CHANCE_MSE = 1 / 6


def copying_episode(T: int, count: int, gen: torch.Generator,
                    recall: int = RECALL) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets), each (count, T + 2 recall) long: the copying problem with T blanks and
    ``recall`` symbols to remember (10 in the literature: T+20 steps)."""
    if T < 1:
        raise ValueError(f"task.T={T} (or task.eval_T): copying needs T >= 1 blanks")
    symbols = torch.randint(1, SYMBOLS + 1, (count, recall), generator=gen)
    inputs = torch.full((count, T + 2 * recall), BLANK, dtype=torch.long)
    inputs[:, :recall] = symbols
    inputs[:, recall + T - 1] = MARKER
    targets = torch.full_like(inputs, BLANK)
    targets[:, -recall:] = symbols
    return inputs, targets


def adding_episode(T: int, count: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs (count, T, 2) float, sums (count,) float): the adding problem of length T."""
    if T < 2:
        raise ValueError(f"task.T={T} (or task.eval_T): adding needs T >= 2 steps")
    values = torch.rand(count, T, generator=gen)
    half = T // 2
    first = torch.randint(0, half, (count,), generator=gen)
    second = torch.randint(half, T, (count,), generator=gen)
    markers = torch.zeros(count, T)
    rows = torch.arange(count)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    return torch.stack([values, markers], dim=-1), values[rows, first] + values[rows, second]


class EpisodeStream:
    """B synchronised streams of fixed-length episodes; ``episodes`` = None means endless."""

    def __init__(self, task: str, T: int, batch_size: int, seed: int, heldout: bool = False,
                 episodes: int | None = None, encoding: str = "onehot", device: torch.device | str = "cpu",
                 recall: int = RECALL) -> None:
        if task not in ("copying", "adding"):
            raise ValueError(f"unknown episodic task {task!r}: copying or adding")
        if encoding not in ("onehot", "scalar"):
            raise ValueError(f"encoding={encoding!r} must be onehot or scalar")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1")
        self.task, self.T, self.batch_size, self.heldout = task, T, batch_size, heldout
        self.encoding, self.device, self.recall = encoding, torch.device(device), recall
        self.episode_length = T + 2 * recall if task == "copying" else T
        self.input_dim = (MARKER + 1 if encoding == "onehot" else 1) if task == "copying" else 2
        self.n_classes = MARKER + 1 if task == "copying" else 1  # copying outputs: blank, 1-8, (marker)
        self.episodes = episodes
        self.length = None if episodes is None else episodes * self.episode_length
        self.seed = seed
        self.gen = torch.Generator().manual_seed(seed)
        self.step, self.inputs, self.targets = 0, None, None
        self._new_episode()  # draw now so that the stream's construction fixes it, as for other tasks

    def _new_episode(self) -> None:
        if self.task == "copying":
            self.inputs, self.targets = copying_episode(self.T, self.batch_size, self.gen, self.recall)
        else:
            self.inputs, self.targets = adding_episode(self.T, self.batch_size, self.gen)

    def _encode(self, values: torch.Tensor) -> torch.Tensor:
        if self.task == "adding":
            return values
        if self.encoding == "scalar":
            return values.float().unsqueeze(-1)
        return torch.nn.functional.one_hot(values, MARKER + 1).float()

    def next_batch(self) -> Batch:
        if self.length is not None and self.step >= self.length:
            raise StopIteration(f"the held-out pass has only {self.length} steps")
        t = self.step % self.episode_length
        if t == 0 and self.step > 0:
            self._new_episode()
        self.step += 1
        last = t == self.episode_length - 1
        x = self._encode(self.inputs[:, t])
        target_x = torch.zeros_like(x) if last else self._encode(self.inputs[:, t + 1])
        reset = torch.full((self.batch_size,), t == 0, dtype=torch.bool)
        if self.task == "copying":
            label, target = self.inputs[:, t], self.targets[:, t]
            recall = t >= self.episode_length - self.recall
            weight = torch.full((self.batch_size,), float(recall)) if self.heldout else None
            value = None
        else:
            label, target = torch.zeros(self.batch_size, dtype=torch.long), torch.zeros(self.batch_size, dtype=torch.long)
            weight = torch.full((self.batch_size,), float(last))
            value = self.targets.unsqueeze(-1).float()
        batch = Batch(x=x, label=label, target_x=target_x, target_label=target, reset=reset, weight=weight,
                      target_value=value, ends_sequence=last)
        return batch.to(self.device)

    def ceilings(self) -> dict[str, float]:
        if self.task == "copying":
            return {"chance": COPY_CHANCE_ACCURACY, "chance_nll": COPY_CHANCE_NLL}
        if self.episodes is None:
            return {"chance_mse": ADDING_CHANCE_MSE}
        return {"chance_mse": ADDING_CHANCE_MSE, "constant_mse": self._constant_mse()}

    def _constant_mse(self) -> float:
        """MSE of always predicting 1 on this finite stream's episodes, redrawn from its seed in
        the order ``_new_episode`` draws them."""
        gen = torch.Generator().manual_seed(self.seed)
        sums = torch.cat([adding_episode(self.T, self.batch_size, gen)[1] for _ in range(self.episodes)])
        return float(((sums - 1) ** 2).mean())

    def state_dict(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state(), "step": self.step, "inputs": self.inputs.clone(),
                "targets": self.targets.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["gen"])
        self.step, self.inputs, self.targets = state["step"], state["inputs"].clone(), state["targets"].clone()


@dataclass
class EpisodeConfig:
    T: int = 100  # copying: blanks between the symbols and the marker (length T+20); adding: length
    batch_size: int = 64  # parallel synchronised episodes per update
    encoding: str = "onehot"  # copying input: onehot (10 values) | scalar (the SAB release's one real input)
    eval_T: int = 0  # held-out episodes of another length (transfer); 0 = same as T
    eval_sequences: int = 512  # held-out episodes (the SAB release tests on 512)
    eval_batch_size: int = 512
    eval_seed: int = 12345
    # copying: symbols to remember and recall; 10 in the literature (Arjovsky et al. 2016, SAB). Fewer
    # make a task small recurrent nets can learn within an online learner's budget (docs/online.md)
    recall: int = RECALL

    def __post_init__(self) -> None:
        check_ranges(self, positive="T batch_size eval_sequences eval_batch_size recall", non_negative="eval_T eval_seed")
        if self.eval_sequences % self.eval_batch_size:  # the held-out pass is whole batches of episodes
            raise FieldError("eval_sequences", self.eval_sequences,
                             f"must be a multiple of task.eval_batch_size={self.eval_batch_size}")
        if self.encoding not in ("onehot", "scalar"):
            raise FieldError("encoding", self.encoding, "must be 'onehot' or 'scalar'")


def episode_stream(task: str, config: EpisodeConfig, split: str, seed: int, device: str) -> EpisodeStream:
    """Task ``task``'s stream for ``split``: endless training episodes, or a finite pass over
    ``eval_sequences`` held-out ("heldout") or test ("test") episodes."""
    if split == "train":
        return EpisodeStream(task, config.T, config.batch_size, seed, encoding=config.encoding, device=device,
                             recall=config.recall)
    if split not in ("heldout", "test"):
        raise ValueError(f"{task} has no {split!r} stream: use train, heldout or test")
    if config.eval_sequences % config.eval_batch_size:
        raise ValueError(f"task.eval_sequences={config.eval_sequences} must be a multiple of "
                         f"task.eval_batch_size={config.eval_batch_size}")
    # "test" draws from another seed than "heldout" (validation), so selection never sees it
    seed = config.eval_seed + (1 if split == "test" else 0)
    return EpisodeStream(task, config.eval_T or config.T, config.eval_batch_size, seed, heldout=True,
                         episodes=config.eval_sequences // config.eval_batch_size,
                         encoding=config.encoding, device=device, recall=config.recall)


@register_task("copying", config=EpisodeConfig,
               description="copying problem: recall 10 (task.recall) symbols after T blanks (length T+20; chance 1/8)",
               episode_length=lambda c: c.T + 2 * c.recall)
def copying_stream(config: EpisodeConfig, split: str, seed: int, device: str) -> EpisodeStream:
    return episode_stream("copying", config, split, seed, device)


@register_task("adding", config=EpisodeConfig,
               description="adding problem: sum of the two marked values of a length-T sequence (chance MSE 1/6)",
               episode_length=lambda c: c.T)
def adding_stream(config: EpisodeConfig, split: str, seed: int, device: str) -> EpisodeStream:
    return episode_stream("adding", config, split, seed, device)
