"""NARMA10 (Atiya & Parlos 2000; the reservoir-computing benchmark of Jaeger 2003;
docs/online.md#narma10), generated from the published formula:

    y(t+1) = 0.3 y(t) + 0.05 y(t) sum_{i=0}^{9} y(t-i) + 1.5 u(t-9) u(t) + 0.1,   u(t) ~ U[0, 0.5]

The learner sees u(t) and predicts y(t+1) (regression, ``Batch.target_value``): the pair at step t
is (u(t), y(t+1)), so the target needs the inputs of the last 10 steps and the system's own state.

Not reservoirpy's generator (``reservoirpy.datasets.narma``), on purpose: its loop computes
y[t+1] from sum(y[t-order:t]) = y(t-10) .. y(t-1) and u[t-order] = u(t-10), each one step further
back than the formula above (which its docstring prints), so its NARMA-10 is another system even
with the same coefficients (its defaults are not NARMA10's either: order 30, a1 0.2, a2 0.04).

Start: y(t) = 0 for t <= 9; the first ``discard`` pairs (the transient from that start) are
dropped. The data are the task's, not the run's: ``series_seed`` draws u, so every run seed sees
the same series. Segments: 2000 train, 1000 held-out, 1000 test pairs, contiguous
(nobptt/tasks/series.py). The ceilings carry ``target_std`` so that the progress lines print
NRMSE = RMSE / std(y), the literature's normalised error (not reservoirpy's ``nrmse``, which
divides by the range by default, or by the variance with norm="var").
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from nobptt.errors import DataError
from nobptt.tasks.registry import register_task
from nobptt.tasks.series import SeriesStream
from nobptt.validation import check_ranges

ORDER = 10
BLOW_UP = 10.0  # |y| beyond this: the recurrence has left its stable regime (about 0.1 to 1)


def narma10(steps: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(u, y), each (steps,) float64, with y following the NARMA10 recurrence from y(t) = 0 for
    t <= 9: y[t + 1] = 0.3 y[t] + 0.05 y[t] (y[t] + ... + y[t-9]) + 1.5 u[t-9] u[t] + 0.1."""
    gen = torch.Generator().manual_seed(seed)
    u = 0.5 * torch.rand(steps, generator=gen, dtype=torch.float64)
    us, y = u.tolist(), [0.0] * steps
    for t in range(ORDER - 1, steps - 1):
        window = sum(y[t - ORDER + 1:t + 1])  # y(t-9) .. y(t)
        y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * window + 1.5 * us[t - ORDER + 1] * us[t] + 0.1
        if abs(y[t + 1]) > BLOW_UP:
            raise DataError(f"NARMA10 with task.series_seed={seed} left its stable range at step {t + 1} "
                            f"(y = {y[t + 1]:.3g}): choose another task.series_seed")
    return u, torch.tensor(y, dtype=torch.float64)


@dataclass
class NARMA10Config:
    discard: int = 200  # pairs dropped first: the transient from y = 0 (at least 10)
    train_length: int = 2000  # pairs (u(t), y(t+1)) in each segment, contiguous in this order
    heldout_length: int = 1000
    test_length: int = 1000
    eval_warmup: int = 100  # unscored pairs read before a held-out / test segment
    batch_size: int = 1  # training streams, each reading its own contiguous chunk of the train segment
    series_seed: int = 0  # the seed of u (the data's, not the run's)

    def __post_init__(self) -> None:
        check_ranges(self, positive="train_length heldout_length test_length batch_size",
                     non_negative="discard eval_warmup series_seed")


def series_pairs(config: NARMA10Config) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs u(t), targets y(t+1)), each (N, 1) float64, t from ``discard`` (at least 9) on."""
    pairs = config.train_length + config.heldout_length + config.test_length
    start = max(config.discard, ORDER - 1)  # y(t+1) follows the formula from t = 9 on
    u, y = narma10(start + pairs + 1, config.series_seed)
    return u[start:start + pairs, None], y[start + 1:start + pairs + 1, None]


@register_task("narma10", config=NARMA10Config,
               description="NARMA10 (the published formula): input u(t), predict y(t+1); NRMSE = RMSE / std(y)")
def narma10_stream(config: NARMA10Config, split: str, seed: int, device: str) -> SeriesStream:
    inputs, targets = series_pairs(config)
    lengths = (config.train_length, config.heldout_length, config.test_length)
    return SeriesStream(inputs, targets, lengths, split, config.batch_size, config.eval_warmup, device=device)
