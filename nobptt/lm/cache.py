"""A recency ("unigram") cache over each evaluation stream's own history (docs/ptb.md#the-protocol).

cache_t(w) = sum_{s <= t} d^(t-s) [w_s = w] / sum_{s <= t} d^(t-s), where w_s are the tokens the
stream has read so far (its inputs, the current one included) and d is the decay. This is the
reference's PyTorch word cache written as an exponentially weighted count; each stream starts
empty, like its recurrent state.
"""
from __future__ import annotations

import torch


def cache_probs(inputs: torch.Tensor, targets: torch.Tensor, vocab_size: int, decay: float) -> torch.Tensor:
    """Cache probability of each target; ``inputs`` and ``targets`` are (B streams, L steps) ids."""
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"cache decay {decay} must be in [0, 1)")
    streams, steps = inputs.shape
    counts = torch.zeros(streams, vocab_size, dtype=torch.float64)
    norm = torch.zeros(streams, 1, dtype=torch.float64)
    rows = torch.arange(streams)
    out = torch.empty(streams, steps, dtype=torch.float64)
    for t in range(steps):
        counts.mul_(decay)
        counts[rows, inputs[:, t]] += 1.0
        norm.mul_(decay).add_(1.0)
        out[:, t] = counts[rows, targets[:, t]] / norm[:, 0]
    return out
