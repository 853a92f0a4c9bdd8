"""One long time series, split contiguously into train / held-out / test segments, as a stream of
one-step-ahead regression targets (the layout of the Mackey-Glass and NARMA10 tasks,
docs/online.md#tasks).

The task gives aligned pairs (inputs[t], targets[t]), t = 0 .. N-1: what the learner sees at step t
and the value it must predict (``Batch.target_value``). The pairs are cut into three contiguous
segments: train [0, L1), held-out [L1, L1 + L2), test [L1 + L2, L1 + L2 + L3).

* Training: ``batch_size`` streams, each reading its own contiguous chunk of the train segment
  (B chunks of L1 // B pairs, as language-model batching does), over and over; each pass starts a
  fresh state (``Batch.reset``). Endless.
* Held-out and test: one finite stream that starts ``eval_warmup`` pairs before its segment, so the
  learner's state has context, and scores (weight 1) only the segment's own pairs. The warm-up
  reads the inputs just before the segment (the train segment's tail for held-out, the held-out
  segment's tail for test): inputs only, and the test segment is never read during training or
  selection.

Ceilings, of the targets the stream scores (training: the whole train segment):
``chance_mse`` (predicting their mean: their variance), ``target_std`` (their standard deviation,
population form, so NRMSE = RMSE / target_std, the literature's normalised RMSE) and, where the
target is the next input, ``persistence_mse`` (predicting that the next value equals this one).
"""
from __future__ import annotations

from typing import Any

import torch

from nobptt.errors import ConfigError
from nobptt.tasks.base import Batch

SPLITS = ("train", "heldout", "test")


class SeriesStream:
    """Pairs ``inputs`` (N, d) -> ``targets`` (N, k) of one series, read as described above."""

    n_classes: int

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor, lengths: tuple[int, int, int], split: str,
                 batch_size: int = 1, eval_warmup: int = 0, persistence: bool = False,
                 device: torch.device | str = "cpu") -> None:
        if split not in SPLITS:
            raise ConfigError(f"a series task has no {split!r} stream: use train, heldout or test")
        if inputs.shape[0] != targets.shape[0] or inputs.shape[0] < sum(lengths):
            raise ConfigError(f"the series has {inputs.shape[0]} pairs, fewer than the segments' lengths {lengths}")
        train, heldout, test = lengths
        self.inputs, self.targets = inputs.float(), targets.float()
        self.input_dim, self.n_classes = inputs.shape[1], targets.shape[1]
        self.device, self.persistence, self.step = torch.device(device), persistence, 0
        if split == "train":
            if batch_size > train:
                raise ConfigError(f"task.batch_size={batch_size} is more than the {train} training pairs")
            self.batch_size, self.chunk, self.warmup = batch_size, train // batch_size, 0
            self.starts = torch.arange(batch_size) * self.chunk
            self.length: int | None = None
            self.scored = slice(0, self.chunk * batch_size)
        else:
            begin, size = (train, heldout) if split == "heldout" else (train + heldout, test)
            if eval_warmup > begin:
                raise ConfigError(f"task.eval_warmup={eval_warmup} reaches before the series' start "
                                  f"(the {split} segment starts at pair {begin})")
            self.batch_size, self.chunk, self.warmup = 1, eval_warmup + size, eval_warmup
            self.starts = torch.tensor([begin - eval_warmup])
            self.length = self.chunk
            self.scored = slice(begin, begin + size)

    def next_batch(self) -> Batch:
        if self.length is not None and self.step >= self.length:
            raise StopIteration(f"the evaluation pass has only {self.length} steps")
        position = self.step % self.chunk
        rows = self.starts + position
        after = (rows + 1).clamp(max=self.inputs.shape[0] - 1)
        weight = None
        if self.length is not None:
            weight = torch.full((self.batch_size,), float(position >= self.warmup))
        zeros = torch.zeros(self.batch_size, dtype=torch.long)
        batch = Batch(x=self.inputs[rows], label=zeros, target_x=self.inputs[after], target_label=zeros.clone(),
                      reset=torch.full((self.batch_size,), position == 0, dtype=torch.bool), weight=weight,
                      target_value=self.targets[rows])
        self.step += 1
        return batch.to(self.device)

    def ceilings(self) -> dict[str, float]:
        scored = self.targets[self.scored].double()
        out = {"chance_mse": float(scored.var(dim=0, unbiased=False).sum()),
               "target_std": float(scored.std(unbiased=False))}
        if self.persistence:
            out["persistence_mse"] = float(((scored - self.inputs[self.scored].double()) ** 2).sum(-1).mean())
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
