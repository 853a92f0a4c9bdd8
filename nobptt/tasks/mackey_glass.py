"""Mackey-Glass one-step-ahead prediction (Mackey & Glass 1977; the ESN benchmark of Jaeger & Haas
2004 and of reservoirpy's README; docs/online.md#mackey-glass).

The series solves the delay differential equation

    dx/dt = a x(t - tau) / (1 + x(t - tau)^n) - b x(t),   tau = 17, a = 0.2, b = 0.1, n = 10

(chaotic at tau = 17), sampled every ``sample_every`` = 1 time unit. The learner sees x(t) and
predicts x(t + 1) (regression, ``Batch.target_value``).

Integrator (decided here; documented in docs/online.md#mackey-glass): classic fourth-order
Runge-Kutta with step h = 0.1 (tau / h = 170 and 1 / h = 10 are whole numbers, which the config
checks). RK4 needs x(t - tau) at t, t + h/2 and t + h: the grid holds the first and the last, and
the midpoint is their average (linear interpolation), so the scheme is second order in h overall
(the interpolation's error, about h^2 / 8 |x''|, is below 1e-5 here). reservoirpy instead steps with
h = 1 and holds x(t - tau) fixed over the whole step, a coarser map of the same equation: the two
series are different trajectories of the same attractor, not the same numbers.

History: x(t) = x0 + 0.2 (U - 0.5) on the grid of [-tau, 0) and x(0) = x0 = 1.2, U ~ U(0, 1) drawn
from ``series_seed`` (reservoirpy's default history). The first ``discard`` samples (the transient
from that history onto the attractor) are dropped; the next train + held-out + test samples, plus
the one more that the last target needs, form the series.

The data are the task's, not the run's: every run seed sees the same series (``task.series_seed``
chooses another), so that seeds of a learner are compared on the same segments, as reservoirpy's
README evaluates. Default segments: 1200 train, 400 held-out, 400 test pairs, so train + held-out
are the first 80% and test the last 20% of 2000 steps, reservoirpy's README split.

Normalisation (``normalise``): "none" (the default: raw values, about 0.2 to 1.4, the scale of
reservoirpy's README RMSE 2.0e-3), "minmax" (to [-1, 1] by the train segment's min and max) or
"standard" (the train segment's mean and standard deviation); inputs and targets alike, with
statistics of the train segment only.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from nobptt.errors import ConfigError
from nobptt.tasks.registry import register_task
from nobptt.tasks.series import SeriesStream
from nobptt.validation import check_ranges

NORMALISATIONS = ("none", "minmax", "standard")


def _whole(ratio: float, what: str) -> int:
    steps = round(ratio)
    if steps < 1 or abs(steps - ratio) > 1e-9 * max(1.0, ratio):
        raise ConfigError(f"{what} = {ratio!r} must be a whole number of integration steps (>= 1)")
    return steps


def derivative(x: float, delayed: float, a: float, b: float, n: float) -> float:
    """dx/dt of the Mackey-Glass equation given x(t) and x(t - tau)."""
    return a * delayed / (1.0 + delayed ** n) - b * x


def integrate(grid_steps: int, tau: float = 17.0, a: float = 0.2, b: float = 0.1, n: float = 10.0,
              x0: float = 1.2, h: float = 0.1, seed: int = 0, noise: float = 0.2) -> tuple[torch.Tensor, int]:
    """The solution on the integration grid (float64), history included, and the delay in steps d:
    values[k] is x((k - d) h), so values[d] = x(0) = x0 and values[d + grid_steps] the last. The
    history is x0 + noise (U - 0.5) at each grid point of [-tau, 0) (noise 0: a constant history,
    the same function at every h, for convergence checks)."""
    d = _whole(tau / h, "task.tau / task.h")
    gen = torch.Generator().manual_seed(seed)
    history = x0 + noise * (torch.rand(d, generator=gen, dtype=torch.float64) - 0.5)
    x = history.tolist() + [x0]
    for k in range(d, d + grid_steps):  # plain floats: about 0.2 s per 10^5 steps
        now, lag0, lag1 = x[k], x[k - d], x[k - d + 1]
        lag_mid = 0.5 * (lag0 + lag1)  # x(t + h/2 - tau), linearly interpolated
        k1 = derivative(now, lag0, a, b, n)
        k2 = derivative(now + 0.5 * h * k1, lag_mid, a, b, n)
        k3 = derivative(now + 0.5 * h * k2, lag_mid, a, b, n)
        k4 = derivative(now + h * k3, lag1, a, b, n)
        x.append(now + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4))
    values = torch.tensor(x, dtype=torch.float64)
    if not bool(torch.isfinite(values).all()):
        raise ConfigError(f"the Mackey-Glass integration diverged (tau={tau}, a={a}, b={b}, n={n}, h={h}): "
                          f"use a smaller task.h")
    return values, d


def mackey_glass(samples: int, tau: float = 17.0, a: float = 0.2, b: float = 0.1, n: float = 10.0,
                 x0: float = 1.2, h: float = 0.1, sample_every: float = 1.0, discard: int = 0,
                 seed: int = 0) -> torch.Tensor:
    """``samples`` values x(t) (float64), t = discard, discard + 1, ... in units of ``sample_every``."""
    stride = _whole(sample_every / h, "task.sample_every / task.h")
    values, d = integrate((discard + samples - 1) * stride, tau, a, b, n, x0, h, seed)
    return values[d + discard * stride::stride][:samples]


@dataclass
class MackeyGlassConfig:
    tau: float = 17.0  # the delay (17: mildly chaotic, the benchmark's value)
    a: float = 0.2
    b: float = 0.1
    n: float = 10.0  # the exponent of the delayed term
    x0: float = 1.2  # x(0); the history before it is x0 + 0.2 (U - 0.5)
    h: float = 0.1  # RK4 step (tau / h and sample_every / h must be whole numbers)
    sample_every: float = 1.0  # time units between two samples (one step of the task)
    discard: int = 500  # samples dropped first: the transient from the random history
    train_length: int = 1200  # pairs (x(t), x(t+1)) in each segment, contiguous in this order
    heldout_length: int = 400
    test_length: int = 400
    eval_warmup: int = 100  # unscored pairs read before a held-out / test segment (reservoirpy's warmup)
    batch_size: int = 1  # training streams, each reading its own contiguous chunk of the train segment
    normalise: str = "none"  # none | minmax (to [-1, 1]) | standard, with the train segment's statistics
    series_seed: int = 0  # the random history's seed (the data's, not the run's)

    def __post_init__(self) -> None:
        check_ranges(self, positive="tau a b n x0 h sample_every train_length heldout_length test_length batch_size",
                     non_negative="discard eval_warmup series_seed")
        if self.normalise not in NORMALISATIONS:
            raise ConfigError(f"task.normalise={self.normalise!r} must be one of {NORMALISATIONS}")
        _whole(self.tau / self.h, "task.tau / task.h")
        _whole(self.sample_every / self.h, "task.sample_every / task.h")


def normalise(series: torch.Tensor, train: torch.Tensor, how: str) -> torch.Tensor:
    """``series`` rescaled by statistics of ``train`` (a prefix of it)."""
    if how == "minmax":
        low, high = float(train.min()), float(train.max())
        return 2.0 * (series - low) / (high - low) - 1.0
    if how == "standard":
        return (series - float(train.mean())) / float(train.std(unbiased=False))
    return series


def series_pairs(config: MackeyGlassConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets), each (N, 1) float64: x(t) and x(t + 1) over the three segments."""
    c = config
    pairs = c.train_length + c.heldout_length + c.test_length
    series = mackey_glass(pairs + 1, c.tau, c.a, c.b, c.n, c.x0, c.h, c.sample_every, c.discard, c.series_seed)
    series = normalise(series, series[:c.train_length + 1], c.normalise)
    return series[:-1, None], series[1:, None]


@register_task("mackey_glass", config=MackeyGlassConfig,
               description="Mackey-Glass (tau = 17) one-step-ahead prediction; contiguous train / held-out / test")
def mackey_glass_stream(config: MackeyGlassConfig, split: str, seed: int, device: str) -> SeriesStream:
    inputs, targets = series_pairs(config)
    lengths = (config.train_length, config.heldout_length, config.test_length)
    return SeriesStream(inputs, targets, lengths, split, config.batch_size, config.eval_warmup,
                        persistence=True, device=device)
