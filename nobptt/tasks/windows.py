"""Fixed windows of a token corpus, each read from a zero state: the windowed protocol of Suarez's
recurrent highway hypernetwork release (docs/cells.md#character-ptb-two-protocols).

* :class:`WindowStream` (training): every episode, B windows of ``window`` inputs at random
  offsets, read in parallel from a fresh state (``Batch.reset`` at the first step, all True;
  ``Batch.ends_sequence`` at the last); every prediction is scored. The release trains on random
  101-character windows: 100 inputs, each predicting the next character.
* :class:`WindowPass` (evaluation): windows starting every ``scored`` tokens, each read from a
  fresh state, of which only the last ``scored`` predictions count (the release's minContext = 95
  for window 100, scored 5). Every target from index ``window - scored + 1`` on is scored exactly
  once; the first ``window - scored + 1`` targets of the file, which would have less context, are
  not scored (the release's choice, kept). A last window ending at the file's end scores the
  targets the regular grid left over. B windows run in parallel; the last episode's spare rows are
  padding (weight 0).

This differs from the stream protocol (``nobptt.tasks.tokens``), where state is carried across the
whole file and every target has all the history before it; scores under the two are not
comparable, which is why every record says which one it used.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from nobptt.tasks.base import Batch
from nobptt.tasks.tokens import _Stepped


def _check(tokens: int, window: int, scored: int) -> None:
    if window < 1 or not 1 <= scored <= window:
        raise ValueError(f"task.window={window} and task.scored={scored}: need window >= 1 and 1 <= scored <= window")
    if tokens < window + 1:
        raise ValueError(f"a corpus of {tokens} tokens is too short for windows of {window} inputs")


class WindowStream:
    """Endless training episodes of B random windows, each from a zero state."""

    def __init__(self, ids: torch.Tensor, table: torch.Tensor, batch_size: int, window: int, seed: int = 0,
                 device: torch.device | str = "cpu", ceilings: dict[str, float] | None = None) -> None:
        _check(len(ids), window, 1)
        self.device = torch.device(device)
        self.ids, self.table = ids.to(self.device), table.to(self.device)
        self.batch_size, self.input_dim, self.n_classes = batch_size, table.shape[1], table.shape[0]
        self.window, self.length, self.levels = window, None, dict(ceilings or {})
        self.gen = torch.Generator().manual_seed(seed)
        self.step = 0
        self.starts = self._draw()

    def _draw(self) -> torch.Tensor:
        return torch.randint(0, len(self.ids) - self.window, (self.batch_size,), generator=self.gen)

    def next_batch(self) -> Batch:
        j = self.step % self.window
        if j == 0 and self.step:
            self.starts = self._draw()
        self.step += 1
        pos = (self.starts + j).to(self.device)
        current, nxt = self.ids[pos], self.ids[pos + 1]
        reset = torch.full((self.batch_size,), j == 0, dtype=torch.bool, device=self.device)
        return Batch(x=self.table[current], label=current, target_x=self.table[nxt], target_label=nxt,
                     reset=reset, ends_sequence=j == self.window - 1)

    def ceilings(self) -> dict[str, float]:
        return dict(self.levels)

    def state_dict(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state(), "step": self.step, "starts": self.starts.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["gen"])
        self.step, self.starts = state["step"], state["starts"].clone()


def window_starts(tokens: int, window: int, scored: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(starts, first_scored): each evaluation window's first input index and the position within
    it of its first scored prediction. Input i predicts target i + 1; a window starting at s scores
    the targets s + window - scored + 1 .. s + window, and the last window, ending at the file's
    end, only those the grid left."""
    _check(tokens, window, scored)
    last = tokens - 1 - window  # the last possible start: its final target is the file's last token
    starts = list(range(0, last + 1, scored))
    first = [window - scored] * len(starts)
    covered = starts[-1] + window  # the last target scored so far
    if covered < tokens - 1:
        starts.append(last)
        first.append(window - (tokens - 1 - covered))
    return torch.tensor(starts), torch.tensor(first)


class WindowPass(_Stepped):
    """One evaluation pass of the windowed protocol: ``length`` steps, then StopIteration."""

    def __init__(self, ids: torch.Tensor, table: torch.Tensor, batch_size: int, window: int, scored: int,
                 device: torch.device | str = "cpu", ceilings: dict[str, float] | None = None) -> None:
        self.device = torch.device(device)
        self.table, self.levels = table.to(self.device), dict(ceilings or {})
        self.batch_size, self.input_dim, self.n_classes = batch_size, table.shape[1], table.shape[0]
        self.window = window
        starts, first = window_starts(len(ids), window, scored)
        self.windows = len(starts)
        self.episodes = math.ceil(self.windows / batch_size)
        self.length = self.episodes * window
        spare = self.episodes * batch_size - self.windows  # padding rows: a copy of window 0, weight 0
        starts = torch.cat([starts, starts[:1].repeat(spare)]).view(self.episodes, batch_size)
        first = torch.cat([first, torch.full((spare,), window)]).view(self.episodes, batch_size)
        rows = starts.unsqueeze(-1) + torch.arange(window + 1)  # (episodes, B, window + 1) token indices
        self.tokens = ids[rows].to(self.device)
        self.weights = (torch.arange(window) >= first.unsqueeze(-1)).float().to(self.device)
        self.step = 0

    @property
    def scored_targets(self) -> int:
        return int(self.weights.sum())

    def next_batch(self) -> Batch:
        if self.step >= self.length:
            raise StopIteration(f"the evaluation pass has only {self.length} steps")
        episode, j = divmod(self.step, self.window)
        self.step += 1
        current, nxt = self.tokens[episode, :, j], self.tokens[episode, :, j + 1]
        reset = torch.full((self.batch_size,), j == 0, dtype=torch.bool, device=self.device)
        return Batch(x=self.table[current], label=current, target_x=self.table[nxt], target_label=nxt,
                     reset=reset, weight=self.weights[episode, :, j], ends_sequence=j == self.window - 1)
