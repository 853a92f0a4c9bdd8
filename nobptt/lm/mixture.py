"""Perplexity and the evaluation-time mixture of a model with a cache and a uniform distribution.

docs/ptb.md#the-protocol: the reference scores p(w) = (1 - c - u) p_model(w) + c cache(w) + u / V. Here the
mixture weights are fitted by EM on the *validation* pass only (maximum likelihood, a convex
problem, so EM finds the optimum) and the cache decay is chosen on a grid, again on validation;
the test pass is then scored once with what was fitted. The reference tuned all three on test
(bug 3 in §8.3).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def perplexity(log_probs: torch.Tensor) -> float:
    """exp of the mean negative log-likelihood (natural log) over every scored token."""
    return math.exp(-float(log_probs.double().mean()))


@dataclass
class Mixture:
    """Weights of (model, cache, uniform) and the cache decay; the weights sum to 1."""

    model: float
    cache: float
    uniform: float
    cache_decay: float

    def log_probs(self, model_p: torch.Tensor, cache_p: torch.Tensor, vocab_size: int) -> torch.Tensor:
        """Per-token log-probability of the target under the mixture (float64)."""
        mixed = self.model * model_p.double() + self.cache * cache_p.double() + self.uniform / vocab_size
        return mixed.log()


def fit_weights(components: torch.Tensor, iterations: int = 200, min_weight: float = 1e-4,
                tolerance: float = 1e-10) -> torch.Tensor:
    """Maximum-likelihood mixture weights for per-token component probabilities (N, K) by EM.

    Every weight stays >= ``min_weight`` so the fitted mixture never gives a token zero probability
    when a component (the uniform distribution) is strictly positive.
    """
    p = components.double()
    weights = torch.full((p.shape[1],), 1.0 / p.shape[1], dtype=torch.float64)
    previous = -math.inf
    for _ in range(iterations):
        weighted = p * weights
        total = weighted.sum(dim=1, keepdim=True)
        weights = (weighted / total).mean(dim=0).clamp_min(min_weight)
        weights = weights / weights.sum()
        likelihood = float(total.log().mean())
        if likelihood - previous < tolerance:
            break
        previous = likelihood
    return weights


def fit_mixture(model_p: torch.Tensor, cache_p_by_decay: dict[float, torch.Tensor], vocab_size: int
                ) -> tuple[Mixture, dict[float, float]]:
    """The best (weights, decay) on these (validation) tokens; also each decay's perplexity."""
    uniform = torch.full_like(model_p, 1.0 / vocab_size, dtype=torch.float64)
    best, scores = None, {}
    for decay, cache_p in sorted(cache_p_by_decay.items()):
        w = fit_weights(torch.stack([model_p.double(), cache_p.double(), uniform], dim=1))
        mixture = Mixture(float(w[0]), float(w[1]), float(w[2]), decay)
        scores[decay] = perplexity(mixture.log_probs(model_p, cache_p, vocab_size))
        if best is None or scores[decay] < scores[best.cache_decay]:
            best = mixture
    assert best is not None, "at least one cache decay is needed"
    return best, scores
