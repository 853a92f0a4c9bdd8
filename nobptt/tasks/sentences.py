"""Per-sentence token streams: the official P-TNCN character-PTB protocol (docs/ptb.md#character-ptb-per-sentence).

Each sentence is its own episode: the learner's state is reset at the sentence's first token
(``Batch.reset``), the first token is only shown, never predicted, and every later token is
predicted once (a sentence of n tokens gives n - 1 steps: input token j, target token j + 1).
Padding carries ``Batch.weight`` 0. Two ways to lay sentences onto B parallel streams, both scoring
exactly the same targets on an evaluation pass:

* ``padded`` (the official code's): batches of B sentences start together and are padded to the
  longest one; all streams reset at the batch's first step and ``Batch.ends_sequence`` marks its
  last (so learners that need synchronised episodes, SAB and full BPTT, can train on it).
* ``refill`` (ours): a stream that finishes its sentence starts the next one at once, on its own;
  no padding inside a pass, so a pass takes fewer steps, but streams reset at different steps.

Training streams are endless: the training sentences in a seeded random order, a new order every
pass. Evaluation passes read the split's sentences in file order from a zero state (finite,
``length`` steps).
"""
from __future__ import annotations

import heapq
from typing import Any

import torch

from nobptt.tasks.base import Batch

PACKINGS = ("padded", "refill")


class Sentences:
    """Sentences of ids as one flat tensor, each sentence's start and its number of steps (tokens - 1);
    only sentences of at least 2 tokens are kept (a 1-token sentence has nothing to predict)."""

    def __init__(self, tokens: torch.Tensor, lengths: torch.Tensor) -> None:
        tokens, lengths = tokens.long(), lengths.long()
        if int(lengths.sum()) != len(tokens):
            raise ValueError(f"sentence lengths sum to {int(lengths.sum())}, not the {len(tokens)} tokens")
        starts = torch.cumsum(lengths, 0) - lengths
        kept = lengths >= 2
        if not bool(kept.any()):
            raise ValueError("no sentence of at least 2 tokens: nothing to predict")
        if not bool(kept.all()):
            tokens = tokens[torch.repeat_interleave(kept, lengths)]
            lengths = lengths[kept]
            starts = torch.cumsum(lengths, 0) - lengths
        self.tokens, self.starts, self.steps = tokens, starts, lengths - 1

    @classmethod
    def from_lists(cls, sentences: list[list[int]]) -> "Sentences":
        return cls(torch.tensor([i for s in sentences for i in s], dtype=torch.long),
                   torch.tensor([len(s) for s in sentences], dtype=torch.long))

    @classmethod
    def from_lines(cls, ids: torch.Tensor, closing: int, keep_closing: bool) -> "Sentences":
        """A corpus whose every line ends with the id ``closing`` (end-of-line), cut into its lines,
        each with or without that closing id."""
        ends = (ids == closing).nonzero().flatten()
        if len(ends) == 0 or int(ends[-1]) != len(ids) - 1:
            raise ValueError(f"the corpus must end every line with the closing id {closing}")
        lengths = torch.diff(ends, prepend=torch.tensor([-1])) - (0 if keep_closing else 1)
        tokens = ids if keep_closing else ids[ids != closing]
        return cls(tokens, lengths)

    def __len__(self) -> int:
        return len(self.steps)

    def scored(self) -> torch.Tensor:
        """The ids that are predicted: every token but the first of each sentence, in order."""
        keep = torch.ones(len(self.tokens), dtype=torch.bool)
        keep[self.starts] = False
        return self.tokens[keep]


def _batch(table: torch.Tensor, current: torch.Tensor, nxt: torch.Tensor, reset: torch.Tensor,
           weight: torch.Tensor | None = None, ends: bool = False) -> Batch:
    return Batch(x=table[current], label=current, target_x=table[nxt], target_label=nxt, reset=reset,
                 weight=weight, ends_sequence=ends)


class _Order:
    """The training sentences in a seeded random order, a fresh permutation every pass."""

    def __init__(self, count: int, seed: int) -> None:
        self.count = count
        self.gen = torch.Generator().manual_seed(seed)
        self.order, self.pos = torch.randperm(count, generator=self.gen), 0

    def take(self, n: int) -> torch.Tensor:
        out = []
        while n > 0:
            if self.pos == self.count:
                self.order, self.pos = torch.randperm(self.count, generator=self.gen), 0
            chunk = self.order[self.pos: self.pos + n]
            self.pos += len(chunk)
            n -= len(chunk)
            out.append(chunk)
        return torch.cat(out)

    def state_dict(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state(), "order": self.order.clone(), "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["gen"])
        self.order, self.pos = state["order"].clone(), state["pos"]


class _Base:
    def __init__(self, sentences: Sentences, table: torch.Tensor, batch_size: int,
                 ceilings: dict[str, float] | None, device: torch.device | str) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1")
        self.device = torch.device(device)
        self.sentences, self.table = sentences, table.to(self.device)
        self.tokens = sentences.tokens.to(self.device)
        self.batch_size, self.input_dim, self.n_classes = batch_size, table.shape[1], table.shape[0]
        self._ceilings = dict(ceilings or {})

    def ceilings(self) -> dict[str, float]:
        return dict(self._ceilings)


class PaddedSentenceStream(_Base):
    """Training, ``padded``: B random sentences start together; the episode lasts as long as the
    longest, shorter ones padded (weight 0)."""

    length = None  # endless

    def __init__(self, sentences: Sentences, table: torch.Tensor, batch_size: int, seed: int = 0,
                 ceilings: dict[str, float] | None = None, device: torch.device | str = "cpu") -> None:
        super().__init__(sentences, table, batch_size, ceilings, device)
        self.order = _Order(len(sentences), seed)
        self.block = self.order.take(batch_size)
        self.j = 0

    def next_batch(self) -> Batch:
        s = self.sentences
        steps = s.steps[self.block]
        span = int(steps.max())
        live = self.j < steps
        pos = torch.where(live, s.starts[self.block] + self.j, torch.zeros_like(steps)).to(self.device)
        live = live.to(self.device)
        current = torch.where(live, self.tokens[pos], 0)
        nxt = torch.where(live, self.tokens[pos + live.long()], 0)
        reset = torch.full((self.batch_size,), self.j == 0, dtype=torch.bool, device=self.device)
        ends = self.j == span - 1
        batch = _batch(self.table, current, nxt, reset, live.float(), ends)
        self.j += 1
        if ends:
            self.block, self.j = self.order.take(self.batch_size), 0
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {"order": self.order.state_dict(), "block": self.block.clone(), "j": self.j}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.order.load_state_dict(state["order"])
        self.block, self.j = state["block"].clone(), state["j"]


class RefillSentenceStream(_Base):
    """Training, ``refill``: each stream starts a new random sentence as soon as its own ends."""

    length = None  # endless

    def __init__(self, sentences: Sentences, table: torch.Tensor, batch_size: int, seed: int = 0,
                 ceilings: dict[str, float] | None = None, device: torch.device | str = "cpu") -> None:
        super().__init__(sentences, table, batch_size, ceilings, device)
        self.order = _Order(len(sentences), seed)
        self.current = self.order.take(batch_size)
        self.pos = torch.zeros(batch_size, dtype=torch.long)  # steps done in the current sentence

    def next_batch(self) -> Batch:
        s = self.sentences
        at = (s.starts[self.current] + self.pos).to(self.device)
        reset = (self.pos == 0).to(self.device)
        batch = _batch(self.table, self.tokens[at], self.tokens[at + 1], reset)
        self.pos += 1
        done = self.pos >= s.steps[self.current]
        count = int(done.sum())
        if count:
            self.current[done] = self.order.take(count)
            self.pos[done] = 0
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {"order": self.order.state_dict(), "current": self.current.clone(), "pos": self.pos.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.order.load_state_dict(state["order"])
        self.current, self.pos = state["current"].clone(), state["pos"].clone()


class SentencePass(_Base):
    """Evaluation: one pass over the sentences in file order, every target predicted once, laid out
    by ``packing`` (module docstring); positions after a stream's last sentence have weight 0."""

    def __init__(self, sentences: Sentences, table: torch.Tensor, batch_size: int, packing: str = "padded",
                 ceilings: dict[str, float] | None = None, device: torch.device | str = "cpu") -> None:
        super().__init__(sentences, table, batch_size, ceilings, device)
        if packing not in PACKINGS:
            raise ValueError(f"packing={packing!r} must be one of {PACKINGS}")
        # (stream, first step, sentence) of every sentence, and the pass's steps
        placed, self.length = (_padded if packing == "padded" else _refill)(sentences.steps.tolist(), batch_size)
        B, L = batch_size, self.length
        inputs, targets = torch.zeros(B, L, dtype=torch.long), torch.zeros(B, L, dtype=torch.long)
        weights, resets = torch.zeros(B, L), torch.zeros(B, L, dtype=torch.bool)
        for b, t0, i in placed:
            start, n = int(sentences.starts[i]), int(sentences.steps[i])
            inputs[b, t0: t0 + n] = sentences.tokens[start: start + n]
            targets[b, t0: t0 + n] = sentences.tokens[start + 1: start + n + 1]
            weights[b, t0: t0 + n] = 1.0
            resets[b, t0] = True
        self.ends = torch.zeros(L, dtype=torch.bool)
        if packing == "padded":  # every batch of sentences is one synchronised episode: all streams
            starts = [t0 for b, t0, i in placed if b == 0]  # reset, even those the last batch leaves empty
            resets[:, starts] = True
            self.ends[[t0 - 1 for t0 in starts[1:]] + [L - 1]] = True
        self.inputs, self.targets = inputs.to(self.device), targets.to(self.device)
        self.weights, self.resets = weights.to(self.device), resets.to(self.device)
        self.step = 0

    def next_batch(self) -> Batch:
        if self.step >= self.length:
            raise StopIteration(f"the evaluation pass has only {self.length} steps")
        j = self.step
        self.step += 1
        return _batch(self.table, self.inputs[:, j], self.targets[:, j], self.resets[:, j], self.weights[:, j],
                      bool(self.ends[j]))

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = state["step"]


def _padded(steps: list[int], batch_size: int) -> tuple[list[tuple[int, int, int]], int]:
    """Sentences i*B .. i*B + B - 1 on streams 0 .. B - 1, all starting when the previous batch's
    longest sentence has ended."""
    placed, t = [], 0
    for first in range(0, len(steps), batch_size):
        block = steps[first: first + batch_size]
        placed += [(b, t, first + b) for b in range(len(block))]
        t += max(block)
    return placed, t


def _refill(steps: list[int], batch_size: int) -> tuple[list[tuple[int, int, int]], int]:
    """Each sentence, in order, on the stream that is free first (the lowest-numbered on a tie)."""
    free = [(0, b) for b in range(batch_size)]  # (step at which stream b is free, b)
    placed = []
    for i, n in enumerate(steps):
        t, b = heapq.heappop(free)
        placed.append((b, t, i))
        heapq.heappush(free, (t + n, b))
    return placed, max(t for t, _ in free)


__all__ = ["PACKINGS", "PaddedSentenceStream", "RefillSentenceStream", "SentencePass", "Sentences"]
