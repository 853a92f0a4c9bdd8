"""Exact ceilings of grammars: the 8x9 grammar's 8/9 and hand-checkable small cases."""
from fractions import Fraction

import pytest

from nobptt.tasks.grammar import (PAGI9, ceilings, optimal_accuracy, order_k_accuracy, parse_grammar,
                                  validate_grammar)


def test_pagi9_bayes_ceiling_is_exactly_eight_ninths():
    assert optimal_accuracy(PAGI9) == Fraction(8, 9)


@pytest.mark.parametrize("k,expected", [(1, 30.2), (2, 72.7), (3, 86.5), (4, 88.4)])
def test_pagi9_order_k_ceilings(k, expected):
    assert round(100 * float(order_k_accuracy(PAGI9, k)), 1) == expected


def test_hand_checkable_grammars():
    # one subsequence: once synchronised, every next label is known
    assert optimal_accuracy([[0, 1, 2]]) == 1
    assert order_k_accuracy([[0, 1, 2]], 1) == 1
    # "0 1" or "0 2": after 0 it's a coin flip (1/2), after 1 or 2 comes 0 -> (1/2 + 1) / 2
    fork = [[0, 1], [0, 2]]
    assert optimal_accuracy(fork) == Fraction(3, 4)
    assert [order_k_accuracy(fork, k) for k in range(3)] == [Fraction(1, 2), Fraction(3, 4), Fraction(3, 4)]
    # i.i.d. fair coin: nothing beats 1/2
    assert optimal_accuracy([[0], [1]]) == Fraction(1, 2)
    assert order_k_accuracy([[0], [1]], 3) == Fraction(1, 2)
    # unequal lengths: "0" or "1 2". Bayes: after 0 or 2 a new subsequence starts (0 w.p. 1/2,
    # else 1 -> accuracy 1/2); after 1 comes 2 (accuracy 1). Stationary mass is uniform over the
    # three positions: (1/2 + 1 + 1/2) / 3 = 2/3.
    assert optimal_accuracy([[0], [1, 2]]) == Fraction(2, 3)


def test_more_context_never_hurts_and_converges_to_bayes():
    values = [order_k_accuracy(PAGI9, k) for k in range(1, 10)]
    assert all(a <= b for a, b in zip(values, values[1:]))
    assert values[-1] == optimal_accuracy(PAGI9)


def test_ceilings_dict():
    c = ceilings(PAGI9)
    assert set(c) == {"bayes", "order1", "order2", "order3", "order4"}
    assert abs(c["bayes"] - 8 / 9) < 1e-12


def test_parse_and_validate():
    assert parse_grammar("pagi9") == PAGI9
    assert parse_grammar("2 4 0; 1,3,5 | 7") == [[2, 4, 0], [1, 3, 5], [7]]
    with pytest.raises(ValueError, match="token 'x'"):
        parse_grammar("2 x 0")
    with pytest.raises(ValueError, match="label 12"):
        validate_grammar([[1, 12]])
    with pytest.raises(ValueError, match="subsequence 1 is empty"):
        validate_grammar([[1], []])
    with pytest.raises(ValueError, match="empty"):
        validate_grammar([])
