"""The Kneser-Ney baseline on toy corpora: normalisation, hand-computed values, discounts, errors."""
import math
import random
from collections import Counter

import pytest

from nobptt.lm.kneser_ney import BOS, KneserNey, discounts


def toy_corpus(n_sentences=400, vocab=12, seed=0):
    """Sentences from a small bigram-ish grammar, so every count-of-count n1..n4 is populated."""
    rng = random.Random(seed)
    eos = vocab - 1
    out = []
    for _ in range(n_sentences):
        w, sentence = rng.randrange(eos), []
        for _ in range(rng.randint(1, 8)):
            sentence.append(w)
            w = (w + rng.choice([1, 1, 2, 3])) % eos if rng.random() < 0.8 else rng.randrange(eos)
        out.append(sentence + [eos])
    return out


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_distribution_sums_to_one_in_seen_and_unseen_contexts(order):
    vocab = 12
    model = KneserNey(order, vocab).fit(toy_corpus(vocab=vocab))
    contexts = [[], [0], [3, 4], [1, 2, 3, 4], [BOS, BOS, 5], [10, 10, 10, 10]]  # the last is unseen
    for context in contexts:
        probs = [model.prob(w, context) for w in range(vocab)]
        assert math.isclose(sum(probs), 1.0, rel_tol=1e-9), (order, context)
        assert min(probs) > 0  # the uniform floor: no token of the vocabulary scores zero


def test_discounts_follow_chen_goodman():
    counts = [1] * 10 + [2] * 5 + [3] * 4 + [4] * 2 + [7] * 3
    y = 10 / (10 + 2 * 5)
    assert discounts(counts) == pytest.approx((1 - 2 * y * 5 / 10, 2 - 3 * y * 4 / 5, 3 - 4 * y * 2 / 4))
    assert discounts([1, 1, 2, 9]) == pytest.approx((0.5, 0.5, 0.5))  # n3 = n4 = 0: Ney's single D
    assert discounts([9, 9]) == (0.5, 0.5, 0.5)


def discount_for(count, d):
    return 0 if count == 0 else d[0] if count == 1 else d[1] if count == 2 else d[2]


def backoff_weight(counts, d):
    n = [sum(1 for c in counts.values() if c == k) for k in (1, 2)]
    n.append(sum(1 for c in counts.values() if c >= 3))
    return (d[0] * n[0] + d[1] * n[1] + d[2] * n[2]) / sum(counts.values())


def test_bigram_probability_matches_a_hand_computation():
    vocab = 12
    model = KneserNey(2, vocab).fit(toy_corpus(vocab=vocab))
    word, prev = 5, 4
    # unigram level: continuation counts (distinct left neighbours), interpolated with uniform
    unigram = model.counts[1][()]
    total1 = sum(unigram.values())
    d1 = model.discount[1]

    seen = unigram.get(word, 0)
    p1 = (seen - discount_for(seen, d1)) / total1 + backoff_weight(unigram, d1) / vocab
    following = model.counts[2][(prev,)]  # raw bigram counts after `prev`
    d2 = model.discount[2]
    c = following.get(word, 0)
    expected = max(c - discount_for(c, d2), 0) / sum(following.values()) + backoff_weight(following, d2) * p1
    assert model.prob(word, [prev]) == pytest.approx(expected, rel=1e-12)


def test_lower_orders_use_continuation_counts_except_after_the_begin_symbol():
    # the sentences [0 1 3] x2 and [2 1 3], each preceded by one begin symbol
    bigrams = Counter({(BOS, 0): 2, (0, 1): 2, (1, 3): 3, (BOS, 2): 1, (2, 1): 1})
    unigrams = KneserNey._lower_order_counts(bigrams, Counter())
    assert unigrams == Counter({(1,): 2, (3,): 1, (0,): 1, (2,): 1})  # 3 follows one distinct word
    trigrams = Counter({(BOS, 0, 1): 2, (0, 1, 3): 2, (BOS, 2, 1): 1, (2, 1, 3): 1})
    opening_bigrams = Counter({(BOS, 0): 2, (BOS, 2): 1})
    assert KneserNey._lower_order_counts(trigrams, opening_bigrams) == Counter(
        {(BOS, 0): 2, (BOS, 2): 1, (0, 1): 1, (2, 1): 1, (1, 3): 2})


def test_a_sentence_starts_after_one_begin_symbol_as_in_srilm():
    # The first word is a bigram event P(w | <s>) whatever the order: no (<s>, <s>) context exists.
    # Padding with order - 1 begin symbols instead gave 145.5 on PTB test, SRILM 141.2.
    model = KneserNey(3, 12).fit(toy_corpus(vocab=12))
    assert all(BOS not in h[1:] for h in model.counts[3])
    after_bos, d2 = model.counts[2][(BOS,)], model.discount[2]
    for word in (0, 5, 11):
        c = after_bos.get(word, 0)
        expected = (max(c - discount_for(c, d2), 0) / sum(after_bos.values())
                    + backoff_weight(after_bos, d2) * model.prob(word, []))
        assert model.prob(word, [BOS]) == pytest.approx(expected, rel=1e-12)
        assert model.prob(word, [4, 7, BOS]) == model.prob(word, [BOS])  # a new sentence forgets
    logs = model.sentence_log_probs([3, 11])
    assert logs[0] == pytest.approx(math.log(model.prob(3, [BOS])))
    assert logs[1] == pytest.approx(math.log(model.prob(11, [BOS, 3])))


def test_each_order_helps_on_text_with_that_much_structure():
    # second-order text: the next word is (previous + the one before) mod 11, 85% of the time
    rng = random.Random(1)
    corpus = []
    for _ in range(2000):
        sentence = [rng.randrange(11), rng.randrange(11)]
        for _ in range(rng.randint(2, 8)):
            nxt = (sentence[-1] + sentence[-2]) % 11 if rng.random() < 0.85 else rng.randrange(11)
            sentence.append(nxt)
        corpus.append(sentence + [11])
    train, test = corpus[:1800], corpus[1800:]

    def ppl(order):
        model = KneserNey(order, 12).fit(train)
        logs = [lp for s in test for lp in model.sentence_log_probs(s)]
        return math.exp(-sum(logs) / len(logs))

    assert ppl(3) < 0.6 * ppl(2)
    assert ppl(2) <= ppl(1)
    assert ppl(5) < 1.1 * ppl(3)  # the unneeded orders back off instead of overfitting


def test_out_of_vocabulary_ids_are_rejected():
    with pytest.raises(ValueError, match="outside the vocabulary"):
        KneserNey(2, 3).fit([[0, 1, 5]])


def test_corpus_sentences_end_at_each_eos():
    import torch

    from nobptt.data.ptb import Corpus

    corpus = Corpus(torch.tensor([1, 2, 0, 3, 0, 1]), ["<eos>", "a", "b", "c"])
    assert corpus.sentences() == [[1, 2, 0], [3, 0], [1]]
