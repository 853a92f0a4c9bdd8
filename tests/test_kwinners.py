"""k-winners and boosting: exactly k winners; boosting only re-ranks; duty cycles track wins."""
import torch

from nobptt.learners.kwinners import BoostedKWinners, DutyCycle, shifted_scores, topk_mask


def test_exactly_k_winners_even_with_ties():
    scores = torch.ones(5, 20)  # all tied
    mask = topk_mask(scores, 7)
    assert mask.sum(dim=1).tolist() == [7.0] * 5
    random_scores = torch.randn(50, 100)
    mask = topk_mask(random_scores, 12)
    assert mask.sum(dim=1).eq(12).all()
    # the winners are the largest scores
    smallest_winner = random_scores.masked_fill(mask == 0, float("inf")).min(dim=1).values
    largest_loser = random_scores.masked_fill(mask == 1, float("-inf")).max(dim=1).values
    assert (smallest_winner >= largest_loser).all()


def test_shifted_scores_are_at_least_one_and_preserve_order():
    sigma = torch.randn(4, 30) * 5
    scores = shifted_scores(sigma)
    assert (scores >= 1).all()
    assert torch.equal(scores.argsort(dim=1), sigma.argsort(dim=1))
    assert not scores.requires_grad


def test_boost_reranks_but_does_not_change_transmitted_values():
    kw = BoostedKWinners(units=10, k=2, boost_strength=5.0)
    kw.duty_cycle.duty.copy_(torch.tensor([1.0, 1.0] + [0.0] * 8))  # units 0, 1 always won
    scores = torch.tensor([[3.0, 2.9, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    unboosted = topk_mask(scores, 2)
    boosted = kw(scores, learn=False)
    assert unboosted[0, :2].tolist() == [1.0, 1.0]
    assert boosted[0, :2].tolist() == [0.0, 0.0] and boosted[0, 2] == 1.0  # re-ranked
    assert boosted.sum() == 2
    # beta = 0: boosting off, the ranking is the plain top-k
    kw.beta.zero_()
    assert torch.equal(kw(scores, learn=False), unboosted)


def test_boost_factor_formula_and_decay():
    kw = BoostedKWinners(units=4, k=1, boost_strength=2.0, boost_decay=0.5)
    kw.duty_cycle.duty.copy_(torch.tensor([0.0, 0.25, 0.5, 1.0]))
    expected = torch.exp(2.0 * (0.25 - kw.duty_cycle.duty))
    assert torch.allclose(kw.boost_factors(), expected)
    kw.decay_boost()
    assert kw.beta.item() == 1.0


def test_duty_cycle_counts_samples_like_the_reference():
    duty = DutyCycle(units=3, period=1000)
    mask = torch.tensor([[1.0, 0.0, 0.0]]).repeat(300, 1)
    duty.update(mask)  # T = 300: duty = 300/300
    assert torch.allclose(duty.duty, torch.tensor([1.0, 0.0, 0.0]))
    for _ in range(10):
        duty.update(torch.zeros(300, 3))
    assert duty.duty[0] < 0.05  # decays as an EMA once 1000 samples are seen
    assert int(duty.seen) == 3300


def test_no_duty_update_when_not_learning():
    kw = BoostedKWinners(units=10, k=3, boost_strength=1.0)
    kw(torch.rand(8, 10) + 1, learn=False)
    assert kw.duty_cycle.duty.sum() == 0
    kw(torch.rand(8, 10) + 1, learn=True)
    assert torch.isclose(kw.duty_cycle.duty.sum(), torch.tensor(3.0))
