"""The unigram floor of a language-modelling file: the bits per symbol a model reaches with no
context at all (docs/ptb.md#the-unigram-floor).

Two numbers, both over the *scored* symbols of the evaluated file (which symbols are scored is the
protocol's business: every character under the stream protocol, every character but the first of
each sentence under the per-sentence one):

* ``unigram_bpc``: the cross-entropy of the scored symbols under the unigram distribution of the
  training file's scored symbols, ``-sum_s q(s) log2 p(s)``: the floor a model that learned only
  the symbol frequencies from training data reaches. This is the floor to beat.
* ``unigram_entropy_bpc``: the entropy of the scored symbols' own distribution,
  ``-sum_s q(s) log2 q(s)``, the best any context-free model could do, even one fitted on the
  evaluated file itself (Gibbs' inequality: never above ``unigram_bpc``).

No smoothing: a symbol scored in the evaluated file but never scored in training gets p = 0 and the
cross-entropy is infinite, which is what that unigram model would really score.
"""
from __future__ import annotations

import math

import torch


def unigram_floor(train_ids: torch.Tensor, scored_ids: torch.Tensor, n_symbols: int) -> dict[str, float]:
    """``{"unigram_bpc", "unigram_entropy_bpc"}`` (bits per scored symbol) of the ids ``scored_ids``
    against the unigram distribution of ``train_ids`` (both int tensors of ids < ``n_symbols``)."""
    if len(train_ids) == 0 or len(scored_ids) == 0:
        raise ValueError(f"a unigram floor needs symbols in both files ({len(train_ids)} training, "
                         f"{len(scored_ids)} scored)")
    p = torch.bincount(train_ids.long().flatten(), minlength=n_symbols).double()
    q = torch.bincount(scored_ids.long().flatten(), minlength=n_symbols).double()
    p, q = p / p.sum(), q / q.sum()
    seen = q > 0  # 0 log 0 = 0: symbols never scored do not count
    if bool((p[seen] == 0).any()):
        cross = math.inf
    else:
        cross = float(-(q[seen] * torch.log2(p[seen])).sum())
    entropy = float(-(q[seen] * torch.log2(q[seen])).sum())
    return {"unigram_bpc": cross, "unigram_entropy_bpc": entropy}


__all__ = ["unigram_floor"]
