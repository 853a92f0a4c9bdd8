"""The Phased LSTM frequency-discrimination tasks (Neil, Pfeiffer & Liu 2016, §3.1; generated as
the reference code's ``SinWaveIterator`` and ``SinWaveComboIterator`` do, dannyneil/public_plstm
``freq_task.py``; docs/cells.md#the-frequency-task).

Task 1 (``variant = "single"``), per sequence:

* duration ~ U(15, 125) ms, start ~ U(0, 125 - duration), shift ~ U(0, duration);
* period = exp(U(ln 1, ln 100)) ms, except the first half of every batch, whose period is forced
  to U(5, 6): half of each batch is positive;
* x(t) = sin(2 pi t / period - shift); label 1 iff 5 <= period <= 6 (so a drawn period that lands
  in [5, 6] is positive too: P = ln(6/5) / ln(100) = 3.96% of the drawn half);
* sampling ``"1ms"`` / ``"0.1ms"``: t = start, start + res, ... < start + duration (ceil(duration /
  res) samples); ``"async"``: int(U(15, 125)) sorted times uniform in [start, start + duration).

Task 2 (``variant = "combo"``, asynchronous only): x(t) = sin(t / p1 - s1) + sin(t / p2 - s2), no
2 pi (as the reference code); duration ~ U(1, 100), int(U(100, 1000)) samples; both periods
log-uniform over 1-100, the first half of the batch forced to p1 ~ U(5, 6), p2 ~ U(13, 15); label
1 iff p1 in [5, 6] and p2 in [13, 15].

How a sequence reaches a learner (one time step of B streams at a time):

* **input** x_t = (value, timestamp): the timestamp is the last channel, which the Phased LSTM's
  time gate reads (nobptt/cells/plstm.py) and an LSTM reads as an ordinary second input channel,
  as the reference's LSTM baselines do;
* **left padding with a mask**: every batch is one synchronised episode of ``max_length`` steps
  (125 at 1 ms and async, 1250 at 0.1 ms, 1000 for task 2), each sequence right-aligned, the steps
  before it padding (x = 0, ``Batch.mask`` False). A padded stream is reset at every padded step and
  at its first real step, so its first real step starts from the initial state, as the reference's
  masked layer (which holds the initial state through the masked steps) does. Padding to the
  task's maximum instead of the batch's (the reference) changes no result, only adds padded steps
  (3% at 1 ms, where a batch's longest of 32 is about 122), and makes an epoch of N sequences
  exactly N / B x max_length steps;
* **label** at every step, scored only at the last (``weight`` 1 there, 0 elsewhere): the
  reference classifies from the last output;
* **new data every batch**: the training stream draws fresh sequences for every batch, endlessly
  (the reference draws 5,000 new sequences each epoch: the same distribution). The held-out stream
  is a fixed set of ``eval_sequences`` drawn from ``eval_seed`` (the reference draws 500 new ones
  each epoch), so that successive evaluations are comparable.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from nobptt.errors import DataError
from nobptt.tasks.base import Batch
from nobptt.tasks.registry import register_task
from nobptt.validation import FieldError, check_ranges

SAMPLINGS = {"1ms": 1.0, "0.1ms": 0.1, "async": None}  # name -> sampling step in ms (None: random times)
VARIANTS = ("single", "combo")
PERIOD_RANGE = (1.0, 100.0)  # ms, log-uniform
POSITIVE = (5.0, 6.0)  # task 1's class, and task 2's first period
POSITIVE_2 = (13.0, 15.0)  # task 2's second period
SINGLE = {"duration": (15.0, 125.0), "points": (15, 125)}
COMBO = {"duration": (1.0, 100.0), "points": (100, 1000)}


def log_uniform_fraction(low: float, high: float) -> float:
    """P(low <= period <= high) for a period log-uniform over PERIOD_RANGE."""
    return math.log(high / low) / math.log(PERIOD_RANGE[1] / PERIOD_RANGE[0])


def max_length(variant: str, sampling: str) -> int:
    """Steps of every episode: the longest sequence the task can draw."""
    spec = SINGLE if variant == "single" else COMBO
    step = SAMPLINGS[sampling]
    if step is None:
        return spec["points"][1]
    return math.ceil(spec["duration"][1] / step - 1e-9)


def _uniform(gen: torch.Generator, low: float | torch.Tensor, high: float | torch.Tensor, n: int) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=gen, dtype=torch.float64)


def _log_uniform(gen: torch.Generator, n: int) -> torch.Tensor:
    low, high = (math.log(v) for v in PERIOD_RANGE)
    return _uniform(gen, low, high, n).exp()


def draw_batch(variant: str, sampling: str, batch_size: int, gen: torch.Generator) -> dict[str, Any]:
    """One batch of sequences, each as its own (times, values), with its label and periods:
    {"times": [tensor], "values": [tensor], "label": (B,) long, "period": (B,), "period2": (B,) or None}."""
    spec = SINGLE if variant == "single" else COMBO
    half = batch_size // 2
    points = _uniform(gen, *spec["points"], batch_size).long()  # int(U(a, b)), as the reference
    duration = _uniform(gen, *spec["duration"], batch_size)
    start = _uniform(gen, 0.0, spec["duration"][1] - duration, batch_size)
    period = _log_uniform(gen, batch_size)
    shift = _uniform(gen, 0.0, duration, batch_size)
    period[:half] = _uniform(gen, *POSITIVE, half)  # the first half of every batch is positive
    period2 = shift2 = None
    if variant == "combo":
        period2 = _log_uniform(gen, batch_size)
        shift2 = _uniform(gen, 0.0, duration, batch_size)
        period2[:half] = _uniform(gen, *POSITIVE_2, half)
    step = SAMPLINGS[sampling]
    times, values = [], []
    for b in range(batch_size):
        if step is None:
            t = torch.rand(int(points[b]), generator=gen, dtype=torch.float64).sort().values * duration[b] + start[b]
        else:
            count = math.ceil(float(duration[b]) / step - 1e-9)
            t = start[b] + step * torch.arange(count, dtype=torch.float64)
        if variant == "single":
            v = torch.sin(2 * math.pi / period[b] * t - shift[b])
        else:  # task 2: no 2 pi, as the reference's SinWaveComboIterator
            v = torch.sin(t / period[b] - shift[b]) + torch.sin(t / period2[b] - shift2[b])
        times.append(t)
        values.append(v)
    positive = (period >= POSITIVE[0]) & (period <= POSITIVE[1])
    if variant == "combo":
        positive &= (period2 >= POSITIVE_2[0]) & (period2 <= POSITIVE_2[1])
    return {"times": times, "values": values, "label": positive.long(), "period": period, "period2": period2,
            "duration": duration, "start": start}


def left_pad(times: list[torch.Tensor], values: list[torch.Tensor], length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(x (B, length, 2) float32 of (value, time), mask (B, length) bool), each sequence at the right
    end, zeros (mask False) before it."""
    x = torch.zeros(len(times), length, 2)
    mask = torch.zeros(len(times), length, dtype=torch.bool)
    for b, (t, v) in enumerate(zip(times, values)):
        n = len(t)
        if n > length:
            raise DataError(f"the frequency task drew a sequence of {n} samples, longer than its episode of "
                            f"{length} steps (nobptt/tasks/freq.py max_length): report this as a bug")
        x[b, length - n:, 0] = v.float()
        x[b, length - n:, 1] = t.float()
        mask[b, length - n:] = True
    return x, mask


class FreqStream:
    """B synchronised streams, one padded batch of sequences per episode; ``episodes`` None = endless."""

    n_classes = 2
    input_dim = 2  # (value, timestamp)

    def __init__(self, variant: str, sampling: str, batch_size: int, seed: int, episodes: int | None = None,
                 device: torch.device | str = "cpu") -> None:
        self.variant, self.sampling, self.batch_size = variant, sampling, batch_size
        self.episode_length = max_length(variant, sampling)
        self.episodes, self.device = episodes, torch.device(device)
        self.length = None if episodes is None else episodes * self.episode_length
        self.gen = torch.Generator().manual_seed(seed)
        self.step = 0
        self._new_episode()

    def _new_episode(self) -> None:
        drawn = draw_batch(self.variant, self.sampling, self.batch_size, self.gen)
        self.x, self.mask = left_pad(drawn["times"], drawn["values"], self.episode_length)
        self.labels = drawn["label"]

    def next_batch(self) -> Batch:
        if self.length is not None and self.step >= self.length:
            raise StopIteration(f"the frequency task's evaluation pass has only {self.length} steps")
        t = self.step % self.episode_length
        if t == 0 and self.step > 0:
            self._new_episode()
        self.step += 1
        last = t == self.episode_length - 1
        mask = self.mask[:, t]
        # reset through the padding and at the first real step: a sequence starts from the initial state
        reset = ~self.mask[:, t - 1] if t > 0 else torch.ones(self.batch_size, dtype=torch.bool)
        x = self.x[:, t]
        batch = Batch(x=x, label=self.labels.clone(), target_x=torch.zeros_like(x), target_label=self.labels.clone(),
                      reset=reset, weight=torch.full((self.batch_size,), float(last)), ends_sequence=last, mask=mask)
        return batch.to(self.device)

    def ceilings(self) -> dict[str, float]:
        """"chance": the accuracy of always answering positive, the majority class in expectation."""
        drawn = log_uniform_fraction(*POSITIVE)
        if self.variant == "combo":
            drawn *= log_uniform_fraction(*POSITIVE_2)
        half = (self.batch_size // 2) / self.batch_size
        positive = half + (1 - half) * drawn
        return {"chance": max(positive, 1 - positive)}

    def state_dict(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state(), "step": self.step, "x": self.x.clone(), "mask": self.mask.clone(),
                "labels": self.labels.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["gen"])
        self.step = int(state["step"])
        self.x, self.mask, self.labels = state["x"].clone(), state["mask"].clone(), state["labels"].clone()


@dataclass
class FreqConfig:
    variant: str = "single"  # single: task 1 (one period in [5, 6] ms); combo: task 2 (two periods)
    sampling: str = "1ms"  # 1ms | 0.1ms | async (task 2: async only)
    batch_size: int = 32  # the reference's a_freq_task.sh
    eval_sequences: int = 512  # held-out sequences (the reference validates on 500 fresh ones an epoch)
    eval_batch_size: int = 128
    eval_seed: int = 12345  # held-out sequences draw from this seed, test sequences from eval_seed + 1

    def __post_init__(self) -> None:
        check_ranges(self, positive="batch_size eval_sequences eval_batch_size", non_negative="eval_seed")
        if self.variant not in VARIANTS:
            raise FieldError("variant", self.variant, f"must be one of {VARIANTS}")
        if self.sampling not in SAMPLINGS:
            raise FieldError("sampling", self.sampling, f"must be one of {tuple(SAMPLINGS)}")
        if self.variant == "combo" and self.sampling != "async":
            raise FieldError("sampling", self.sampling, "task 2 (variant 'combo') is asynchronous only: set "
                             "task.sampling='async'")
        if self.batch_size < 2:
            raise FieldError("batch_size", self.batch_size, "must be >= 2 (half of every batch is positive)")
        if self.eval_sequences % self.eval_batch_size:
            raise FieldError("eval_sequences", self.eval_sequences,
                             f"must be a multiple of task.eval_batch_size={self.eval_batch_size}")


@register_task("freq", config=FreqConfig,
               description="Phased LSTM frequency discrimination: is a sine's period in [5, 6] ms (task 2: "
                           "two periods), sampled at 1 ms, 0.1 ms or asynchronously; timestamps as an input",
               episode_length=lambda c: max_length(c.variant, c.sampling))  # left-padded to the longest
def freq_stream(config: FreqConfig, split: str, seed: int, device: str) -> FreqStream:
    if split == "train":
        return FreqStream(config.variant, config.sampling, config.batch_size, seed, device=device)
    if split not in ("heldout", "test"):
        raise FieldError("split", split, "the frequency task has train, heldout and test streams")
    seed = config.eval_seed + (1 if split == "test" else 0)
    return FreqStream(config.variant, config.sampling, config.eval_batch_size, seed,
                      episodes=config.eval_sequences // config.eval_batch_size, device=device)
