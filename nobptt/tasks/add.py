"""The Add task (Pitis 2016, r2rt.com "Recurrent Neural Networks in Tensorflow I"; the
``Add_Task`` of omarschall/vanilla-rtrl, a library of RTRL and its approximations;
docs/online.md#the-add-task).

Every step draws x_t ~ Bernoulli(0.5) and a label y_t ~ Bernoulli(p_t) with

    p_t = P(y_t = 1) = 0.5 + 0.5 x_{t-t1} - 0.25 x_{t-t2},

so a learner that sees x_t and predicts y_t (``Batch.target_label``) gains from remembering the
inputs t1 and t2 steps back. Its cross-entropy has three exact plateaus, whatever t1 and t2:
no memory (the marginal P(y = 1) = 0.625) 0.6616 nats, the first lag only 0.5192, both lags 0.4545
(the optimum). ``plateaus()`` computes them from the formula.

Decisions:
* input: one-hot over {0, 1} (``encoding = "onehot"``, input_dim 2), as the reference
  implementation (vanilla-rtrl's Add_Task: [x, 1 - x]) and r2rt do; ``"scalar"`` gives the bit as
  one real input;
* lags: t1 = 3, t2 = 8, Pitis's original task. Truncated BPTT shorter than 8 steps (but longer than
  3) then stops at the first-lag plateau, which separates the learners; vanilla-rtrl's tests use
  (4, 6) and (6, 10) and any pair gives the same plateaus (``task.t1``, ``task.t2``);
* the first step's labels need inputs from before the stream starts: the stream draws t2 steps of
  history first (not shown), so every label follows the formula; a finite (held-out, test) stream
  gives weight 0 to its first t2 steps, where no learner can know the lags' inputs;
* B parallel endless streams, independent, each with its own inputs and labels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from nobptt.errors import ConfigError
from nobptt.tasks.base import Batch
from nobptt.tasks.registry import register_task
from nobptt.validation import check_ranges

ENCODINGS = ("onehot", "scalar")


def label_probability(first: torch.Tensor | float, second: torch.Tensor | float) -> torch.Tensor | float:
    """P(y_t = 1) given x_{t-t1} = ``first`` and x_{t-t2} = ``second``."""
    return 0.5 + 0.5 * first - 0.25 * second


def _entropy(p: float) -> float:
    """Bernoulli entropy in nats (0 log 0 = 0)."""
    return -sum(q * math.log(q) for q in (p, 1.0 - p) if q > 0)


def plateaus() -> dict[str, float]:
    """The cross-entropy (nats) of the best predictor that knows nothing ("chance_nll"), only
    x_{t-t1} ("first_lag_nll"), or both lagged inputs ("both_lags_nll"), and the accuracy of the
    last ("bayes"): expectations over the four equally likely (x_{t-t1}, x_{t-t2})."""
    cases = [(a, b) for a in (0, 1) for b in (0, 1)]
    marginal = sum(label_probability(a, b) for a, b in cases) / 4
    first = [sum(label_probability(a, b) for b in (0, 1)) / 2 for a in (0, 1)]
    return {"chance_nll": _entropy(marginal),
            "first_lag_nll": sum(_entropy(p) for p in first) / 2,
            "both_lags_nll": sum(_entropy(label_probability(a, b)) for a, b in cases) / 4,
            "bayes": sum(max(p, 1 - p) for p in (label_probability(a, b) for a, b in cases)) / 4}


class AddStream:
    """B independent streams of the Add task; endless, or ``length`` steps (first t2 unscored)."""

    n_classes = 2

    def __init__(self, t1: int, t2: int, batch_size: int, seed: int, length: int | None = None,
                 encoding: str = "onehot", device: torch.device | str = "cpu") -> None:
        if not 1 <= t1 < t2:
            raise ConfigError(f"task.t1={t1}, task.t2={t2}: the Add task needs 1 <= t1 < t2")
        if encoding not in ENCODINGS:
            raise ConfigError(f"task.encoding={encoding!r} must be one of {ENCODINGS}")
        self.t1, self.t2, self.batch_size, self.length = t1, t2, batch_size, length
        self.encoding, self.device = encoding, torch.device(device)
        self.input_dim = 2 if encoding == "onehot" else 1
        self.gen = torch.Generator().manual_seed(seed)
        self.step = 0
        # the last t2 inputs, oldest first: history[:, -k] is x_{t-k} for the next step's t
        self.history = torch.stack([self._bits() for _ in range(t2)], dim=1)

    def _bits(self) -> torch.Tensor:
        return (torch.rand(self.batch_size, generator=self.gen) < 0.5).long()

    def _encode(self, bits: torch.Tensor) -> torch.Tensor:
        if self.encoding == "onehot":
            return torch.nn.functional.one_hot(bits, 2).float()
        return bits.float().unsqueeze(-1)

    def next_batch(self) -> Batch:
        if self.length is not None and self.step >= self.length:
            raise StopIteration(f"the Add evaluation pass has only {self.length} steps")
        x = self._bits()
        window = torch.cat([self.history, x[:, None]], dim=1)  # window[:, -1 - k] is x_{t-k}, k = 0 .. t2
        self.history = window[:, 1:]
        p = label_probability(window[:, -1 - self.t1].float(), window[:, -1 - self.t2].float())
        y = (torch.rand(self.batch_size, generator=self.gen) < p).long()
        weight = None
        if self.length is not None:
            weight = torch.full((self.batch_size,), float(self.step >= self.t2))
        reset = torch.full((self.batch_size,), self.step == 0, dtype=torch.bool)
        self.step += 1
        encoded = self._encode(x)
        batch = Batch(x=encoded, label=x, target_x=torch.zeros_like(encoded), target_label=y, reset=reset,
                      weight=weight)
        return batch.to(self.device)

    def ceilings(self) -> dict[str, float]:
        return plateaus()

    def state_dict(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state(), "step": self.step, "history": self.history.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["gen"])
        self.step, self.history = int(state["step"]), state["history"].clone()


@dataclass
class AddConfig:
    t1: int = 3  # first lag: x_{t-t1} raises P(y_t = 1) by 0.5 (Pitis 2016)
    t2: int = 8  # second lag: x_{t-t2} lowers it by 0.25
    batch_size: int = 32  # parallel independent streams
    encoding: str = "onehot"  # onehot ([1-x, x], input_dim 2) | scalar (x, input_dim 1)
    eval_length: int = 2000  # steps of a held-out / test pass (its first t2 unscored)
    eval_batch_size: int = 16
    eval_seed: int = 12345  # held-out streams draw from this seed, test streams from eval_seed + 1

    def __post_init__(self) -> None:
        check_ranges(self, positive="t1 t2 batch_size eval_length eval_batch_size", non_negative="eval_seed")
        if self.t1 >= self.t2:
            raise ConfigError(f"task.t1={self.t1} must be smaller than task.t2={self.t2}")
        if self.encoding not in ENCODINGS:
            raise ConfigError(f"task.encoding={self.encoding!r} must be one of {ENCODINGS}")


@register_task("add", config=AddConfig,
               description="Add task: Bernoulli inputs, P(y_t=1) = 0.5 + 0.5 x_{t-t1} - 0.25 x_{t-t2} "
                           "(plateaus 0.6616 / 0.5192 / 0.4545 nats)")
def add_stream(config: AddConfig, split: str, seed: int, device: str) -> AddStream:
    if split == "train":
        return AddStream(config.t1, config.t2, config.batch_size, seed, encoding=config.encoding, device=device)
    if split not in ("heldout", "test"):
        raise ConfigError(f"task 'add' has no {split!r} stream: use train, heldout or test")
    # "test" draws from another seed than "heldout" (validation), so selection never sees it
    seed = config.eval_seed + (1 if split == "test" else 0)
    return AddStream(config.t1, config.t2, config.eval_batch_size, seed, length=config.eval_length,
                     encoding=config.encoding, device=device)
