"""Token streams for language modelling: next-token prediction over a corpus of ids.

Each step shows the embedding of the current token (``x``) and asks for the next token's id
(``target_label``) and embedding (``target_x``, bRSM's MSE target, docs/ptb.md#the-brsm-model).

* :class:`TokenStream` (training): B streams at random offsets, one token per step; a stream that
  reaches the end of the corpus (or ``max_length`` steps) jumps to a new random offset, and with
  probability ``forget_prob`` per stream-step its history is forgotten (``Batch.reset``: the
  learner zeroes that stream's recurrent state; docs/ptb.md#the-protocol, the TF behaviour; the PyTorch
  reference's forgetting was a no-op, bug 1 in §8.3).
* :class:`ContiguousTokenStream` (training, the usual streaming protocol): the corpus cut into B
  contiguous chunks read in parallel and endlessly; at the end of a pass every stream wraps to its
  chunk's start together (``Batch.reset`` for all), so episodes stay synchronised.
* :class:`ChunkedTokenStream` (evaluation): the corpus, preceded by one end-of-sentence token as
  context, cut into B contiguous chunks read in parallel from a zero state, so that every token is
  predicted exactly once. The last chunk is padded; padded positions carry weight 0.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from nobptt.tasks.base import Batch


class TokenStream:
    def __init__(self, ids: torch.Tensor, table: torch.Tensor, batch_size: int = 300, seed: int = 0,
                 forget_prob: float = 0.0, max_length: int = 0, device: torch.device | str = "cpu") -> None:
        if len(ids) < 2:
            raise ValueError("a token stream needs a corpus of at least 2 tokens")
        if not 0.0 <= forget_prob <= 1.0:
            raise ValueError(f"forget_prob={forget_prob} must be in [0, 1]")
        if max_length < 0:
            raise ValueError(f"max_length={max_length} must be >= 0 (0 = no limit)")
        self.device = torch.device(device)
        self.ids, self.table = ids.to(self.device), table.to(self.device)
        self.batch_size, self.input_dim, self.n_classes = batch_size, table.shape[1], table.shape[0]
        self.forget_prob, self.max_length = forget_prob, max_length
        self.length = None  # endless
        self.gen = torch.Generator().manual_seed(seed)
        self.pos = self._offsets(batch_size)
        self.run = torch.zeros(batch_size, dtype=torch.long)  # steps since the last jump
        self.jumped = torch.zeros(batch_size, dtype=torch.bool)

    def _offsets(self, count: int) -> torch.Tensor:
        return torch.randint(0, len(self.ids) - 1, (count,), generator=self.gen)

    def next_batch(self) -> Batch:
        forget = torch.rand(self.batch_size, generator=self.gen) < self.forget_prob
        reset = forget | self.jumped
        pos = self.pos.to(self.device)
        current, nxt = self.ids[pos], self.ids[pos + 1]
        self.pos += 1
        self.run += 1
        self.jumped = (self.pos >= len(self.ids) - 1) | ((self.run >= self.max_length) & (self.max_length > 0))
        count = int(self.jumped.sum())
        if count:
            self.pos[self.jumped] = self._offsets(count)
            self.run[self.jumped] = 0
        return Batch(x=self.table[current], label=current, target_x=self.table[nxt], target_label=nxt,
                     reset=reset.to(self.device))

    def ceilings(self) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state(), "pos": self.pos.clone(), "run": self.run.clone(),
                "jumped": self.jumped.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["gen"])
        self.pos, self.run, self.jumped = state["pos"].clone(), state["run"].clone(), state["jumped"].clone()


class _Stepped:
    """A stream whose whole position is its step count."""

    step: int
    levels: dict[str, float] = {}  # its reference levels (e.g. character PTB's unigram floor)

    def ceilings(self) -> dict[str, float]:
        return dict(self.levels)

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = state["step"]


class ContiguousTokenStream(_Stepped):
    def __init__(self, ids: torch.Tensor, table: torch.Tensor, batch_size: int, device: torch.device | str = "cpu",
                 ceilings: dict[str, float] | None = None) -> None:
        self.device = torch.device(device)
        self.levels = dict(ceilings or {})
        self.table = table.to(self.device)
        self.batch_size, self.input_dim, self.n_classes = batch_size, table.shape[1], table.shape[0]
        self.length = None  # endless
        self.chunk = (len(ids) - 1) // batch_size  # steps per pass (inputs; each has a next token)
        if self.chunk < 1:
            raise ValueError(f"a corpus of {len(ids)} tokens is too short for {batch_size} streams")
        starts = torch.arange(batch_size) * self.chunk
        rows = starts.unsqueeze(1) + torch.arange(self.chunk + 1)
        self.tokens = ids[rows].to(self.device)  # (B, chunk + 1)
        self.step = 0

    def next_batch(self) -> Batch:
        j = self.step % self.chunk
        self.step += 1
        current, nxt = self.tokens[:, j], self.tokens[:, j + 1]
        reset = torch.full((self.batch_size,), j == 0, dtype=torch.bool, device=self.device)
        return Batch(x=self.table[current], label=current, target_x=self.table[nxt], target_label=nxt, reset=reset)


class ChunkedTokenStream(_Stepped):
    """A finite pass predicting every token of ``ids`` once; ``context_id`` precedes the first."""

    def __init__(self, ids: torch.Tensor, table: torch.Tensor, batch_size: int, context_id: int,
                 device: torch.device | str = "cpu", ceilings: dict[str, float] | None = None) -> None:
        self.device = torch.device(device)
        self.levels = dict(ceilings or {})
        self.table = table.to(self.device)
        self.batch_size, self.input_dim, self.n_classes = batch_size, table.shape[1], table.shape[0]
        self.tokens = len(ids)
        self.length = math.ceil(self.tokens / batch_size)  # steps in one pass
        padded = torch.full((batch_size * self.length + 1,), context_id, dtype=torch.long)
        padded[1: self.tokens + 1] = ids
        # Row b holds inputs sequence[b*L .. b*L+L-1] and targets one further along.
        starts = torch.arange(batch_size) * self.length
        self.inputs = torch.stack([padded[s: s + self.length] for s in starts]).to(self.device)
        self.targets = torch.stack([padded[s + 1: s + 1 + self.length] for s in starts]).to(self.device)
        target_index = starts.unsqueeze(1) + torch.arange(self.length)  # 0-based index of each target
        self.weights = (target_index < self.tokens).float().to(self.device)
        self.step = 0

    def next_batch(self) -> Batch:
        if self.step >= self.length:
            raise StopIteration(f"the evaluation pass has only {self.length} steps")
        j = self.step
        self.step += 1
        current, nxt = self.inputs[:, j], self.targets[:, j]
        return Batch(x=self.table[current], label=current, target_x=self.table[nxt], target_label=nxt,
                     weight=self.weights[:, j])
