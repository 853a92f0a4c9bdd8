"""k-winners-take-all selection with HTM-style boosting (Gordon et al. 2019; docs/ssmnist.md#the-rsm-layer).

Boosting multiplies each unit's ranking score by ``exp(beta * (k/m - duty))`` so that units which
have won less often than the target density k/m are favoured. The boosted score is used *only* to
choose the winners; what the layer transmits is computed from the un-boosted input.
"""
from __future__ import annotations

import torch
from torch import nn


def topk_mask(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Binary float mask with exactly ``k`` ones per row at the ``k`` largest ``scores``.

    Ties are broken by ``torch.topk`` (deterministic for a given input), so the count is always
    exactly ``k`` even when scores are equal.
    """
    if not 0 < k <= scores.shape[-1]:
        raise ValueError(f"k={k} must be in 1..{scores.shape[-1]} (the number of units)")
    index = scores.topk(k, dim=-1, sorted=False).indices
    return torch.zeros_like(scores).scatter_(-1, index, 1.0)


def shifted_scores(sigma: torch.Tensor) -> torch.Tensor:
    """Ranking score ``sigma - min(sigma) + 1 >= 1`` per sample, detached.

    The shift makes boosting (a positive multiplicative factor) well defined for negative sums;
    without it a boost > 1 would make a negative unit *less* likely to win (the TF reference's
    behaviour, bug 6 in the notes). The min is taken per sample (as TF does) rather than over the
    whole batch (as the PyTorch reference does) so that a stream's winners never depend on the
    other streams in the batch.
    """
    sigma = sigma.detach()
    return sigma - sigma.min(dim=-1, keepdim=True).values + 1.0


class DutyCycle(nn.Module):
    """Running frequency with which each unit is among the winners.

    Update rule of the PyTorch reference, counting samples: with ``T = min(period, seen)``,
    ``duty <- (duty * (T - B) + wins) / T``. For B=300 and period 1000 this is an exponential
    average with weight 0.3 per batch once 1000 samples have been seen.
    """

    def __init__(self, units: int, period: int = 1000) -> None:
        super().__init__()
        if period <= 0:
            raise ValueError(f"duty_cycle_period={period} must be positive")
        self.period = period
        self.register_buffer("duty", torch.zeros(units))
        self.register_buffer("seen", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, mask: torch.Tensor) -> None:
        batch = mask.shape[0]
        self.seen += batch
        period = min(self.period, int(self.seen))
        self.duty.mul_(max(period - batch, 0)).add_(mask.sum(0)).div_(period)


class BoostedKWinners(nn.Module):
    """Selects exactly k winners per sample; optionally boosted by duty cycles.

    ``beta`` (the boost strength) is a buffer so that it is checkpointed; :meth:`decay_boost`
    multiplies it by ``boost_decay`` (the reference does this once per 100-batch "epoch").
    """

    def __init__(self, units: int, k: int, boost_strength: float = 0.0, boost_decay: float = 1.0,
                 duty_cycle_period: int = 1000) -> None:
        super().__init__()
        if not 0 < k <= units:
            raise ValueError(f"k={k} must be between 1 and the number of units ({units})")
        self.units, self.k, self.boost_decay = units, k, boost_decay
        self.register_buffer("beta", torch.tensor(float(boost_strength)))
        self.duty_cycle = DutyCycle(units, duty_cycle_period)

    def boost_factors(self) -> torch.Tensor:
        target = self.k / self.units
        return torch.exp(self.beta * (target - self.duty_cycle.duty))

    def forward(self, scores: torch.Tensor, learn: bool) -> torch.Tensor:
        """Mask of winners for positive ``scores`` (B, units); updates duty cycles if ``learn``."""
        mask = topk_mask(scores * self.boost_factors(), self.k)
        if learn:
            self.duty_cycle.update(mask)
        return mask

    @torch.no_grad()
    def decay_boost(self) -> None:
        self.beta.mul_(self.boost_decay)
