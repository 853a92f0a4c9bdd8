"""Interpolated modified Kneser-Ney n-gram language model (Chen & Goodman 1998, section 3.6).

The n-gram baseline of the bRSM paper's PTB table (KN5: 141.2, from Mikolov et al. 2011, who used
SRILM). No maintained Python package estimates Kneser-Ney models here (the ``kenlm`` wheel only
queries ARPA files; NLTK's implementation does not discount per count), so this is our own,
written from the paper's equations and tested on a toy corpus (tests/test_kneser_ney.py).

Decisions, where the paper leaves a choice:
* each line is a sentence, preceded by ONE begin-of-sentence symbol (SRILM's ``<s>``); its last
  token is ``<eos>``, which is predicted like any word (the begin symbol never is). So the first
  word of a sentence is a bigram event, the second a trigram one, as in SRILM. (Padding with
  ``order - 1`` begin symbols instead re-discounts the same sentence-initial counts at every order:
  that gave 145.5 test perplexity against SRILM's 141.2; one symbol gives 141.2.)
* the highest order uses raw counts; lower orders use continuation counts N1+(. w_{i-n+1}^i),
  except n-grams that begin with the begin symbol (nothing can precede it), which keep raw counts;
* three discounts per order, D1, D2 and D3+, from that order's count-of-counts (eq. 26), or one
  (Ney's) where the count-of-counts leave them undefined;
* the unigram level interpolates with the uniform distribution over the vocabulary, so no token of
  the vocabulary ever gets probability zero. Words outside the vocabulary are an error: PTB maps
  them to ``<unk>`` already.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

BOS = -1  # the begin-of-sentence symbol; never a vocabulary id


@dataclass
class _ContextStats:
    total: float  # sum over w of the (adjusted) count of h w
    n1: int  # words seen exactly once after h
    n2: int
    n3p: int  # three or more times


def discounts(counts: Iterable[int]) -> tuple[float, float, float]:
    """Modified KN discounts (D1, D2, D3+) from the count-of-counts n1..n4 (Chen & Goodman eq. 26).

    Where some n1..n4 is zero (a tiny vocabulary, e.g. the unigrams of a character corpus, has no
    rare types) the estimate is undefined; we then use one discount for all counts, Ney's
    Y = n1 / (n1 + 2 n2), or 0.5 when even that is undefined.
    """
    of = Counter(c for c in counts if c <= 4)
    n1, n2, n3, n4 = (of[i] for i in (1, 2, 3, 4))
    y = n1 / (n1 + 2 * n2) if n1 and n2 else 0.5
    if min(n1, n2, n3, n4) == 0:
        return y, y, y
    return 1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3


class KneserNey:
    """An interpolated modified Kneser-Ney model of ``order`` over ids 0..vocab_size-1."""

    def __init__(self, order: int, vocab_size: int) -> None:
        if order < 1:
            raise ValueError(f"order={order} must be at least 1")
        self.order, self.vocab_size = order, vocab_size
        # counts[n][context][word] for n = 1..order (context: a tuple of n-1 ids)
        self.counts: list[dict[tuple[int, ...], dict[int, int]]] = []
        self.stats: list[dict[tuple[int, ...], _ContextStats]] = []
        self.discount: list[tuple[float, float, float]] = []

    def fit(self, sentences: Iterable[Sequence[int]]) -> "KneserNey":
        top, starts = Counter(), [Counter() for _ in range(self.order)]
        first = 1 if self.order == 1 else 0  # the begin symbol alone is never an event
        for sentence in sentences:
            self._check_ids(sentence)
            padded = [BOS, *sentence]
            top.update(tuple(padded[i:i + self.order]) for i in range(first, len(padded) - self.order + 1))
            for n in range(2, min(self.order, len(padded) + 1)):  # the sentence's opening n-grams
                starts[n][tuple(padded[:n])] += 1
        by_order = {self.order: top}  # every n-gram type of the text is a key of by_order[n]
        for n in range(self.order - 1, 0, -1):
            by_order[n] = self._lower_order_counts(by_order[n + 1], starts[n])
        self.counts, self.stats, self.discount = [{}], [{}], [(0.0, 0.0, 0.0)]  # index 0 unused
        for n in range(1, self.order + 1):
            table: dict[tuple[int, ...], dict[int, int]] = defaultdict(dict)
            for gram, count in by_order[n].items():
                table[gram[:-1]][gram[-1]] = count
            self.counts.append(dict(table))
            self.discount.append(discounts(by_order[n].values()))
            self.stats.append({h: _context_stats(words) for h, words in table.items()})
        return self

    @staticmethod
    def _lower_order_counts(higher: Counter, starts: Counter) -> Counter:
        """Continuation counts of the n-grams: distinct left neighbours among the (n+1)-gram types
        of ``higher``. The n-grams that open a sentence (``starts``: begin symbol first, raw counts)
        keep their raw counts, since nothing precedes the begin symbol."""
        lower: Counter = Counter()
        for gram in higher:
            lower[gram[1:]] += 1
        lower.update(starts)
        return lower

    def _check_ids(self, ids: Sequence[int]) -> None:
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"token id {bad[0]} is outside the vocabulary 0..{self.vocab_size - 1}")

    def prob(self, word: int, context: Sequence[int]) -> float:
        """P(word | context). ``context`` holds the preceding ids, ``[BOS]`` at the sentence start;
        an empty context gives the unigram distribution. Only what follows the last BOS counts."""
        context = tuple(context)
        if BOS in context:
            context = context[len(context) - 1 - context[::-1].index(BOS):]
        context = context[max(0, len(context) - (self.order - 1)):] if self.order > 1 else ()
        p = 1.0 / self.vocab_size
        for n in range(1, len(context) + 2):
            h = context[len(context) - (n - 1):]
            stats = self.stats[n].get(h)
            if stats is None:  # unseen context: this order adds nothing, keep the lower estimate
                continue
            count = self.counts[n][h].get(word, 0)
            d1, d2, d3 = self.discount[n]
            d = 0.0 if count == 0 else d1 if count == 1 else d2 if count == 2 else d3
            gamma = (d1 * stats.n1 + d2 * stats.n2 + d3 * stats.n3p) / stats.total
            p = max(count - d, 0.0) / stats.total + gamma * p
        return p

    def sentence_log_probs(self, sentence: Sequence[int]) -> list[float]:
        """Natural-log probability of every token of the sentence (its ``<eos>`` included)."""
        self._check_ids(sentence)
        context: list[int] = [BOS]
        out = []
        for word in sentence:
            out.append(math.log(self.prob(word, context)))
            context = [*context, word][-(self.order - 1):] if self.order > 1 else []
        return out


def _context_stats(words: dict[int, int]) -> _ContextStats:
    values = words.values()
    return _ContextStats(total=float(sum(values)), n1=sum(1 for c in values if c == 1),
                         n2=sum(1 for c in values if c == 2), n3p=sum(1 for c in values if c >= 3))
