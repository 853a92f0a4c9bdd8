"""The copying breakdown: where a model's recall errors fall, checked with learners whose errors are known."""
import pytest
import torch

from nobptt.diagnostics import copying_breakdown, format_breakdown
from nobptt.learners.base import Learner
from nobptt.tasks.episodes import RECALL, EpisodeStream, copying_episode


class Peeker(Learner):
    """Answers every step with the target itself, except where ``wrong(position, target)`` says so
    (position = recall position 0-9, -1 before the recall)."""

    def __init__(self, length: int, wrong) -> None:
        super().__init__()
        self.length, self.wrong = length, wrong

    def initial_state(self, batch_size, device):
        return {"t": 0}

    def infer(self, state, batch):
        position = state["t"] - (self.length - RECALL)
        answer = batch.target_label.clone()
        flip = self.wrong(position, answer)
        answer[flip] = (answer[flip] % 8) + 1  # another symbol from 1-8
        return {"t": state["t"] + 1}, torch.nn.functional.one_hot(answer, 10).float()


def stream(T=7):
    return EpisodeStream("copying", T, batch_size=16, seed=3, heldout=True, episodes=4)


def test_an_error_at_one_position_shows_there_only():
    s = stream()
    result = copying_breakdown(Peeker(s.episode_length, lambda p, y: torch.full_like(y, p == 3, dtype=torch.bool)), s)
    assert result["episodes"] == 64
    assert result["accuracy_by_position"] == [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert result["accuracy"] == pytest.approx(0.9)
    assert result["episodes_by_errors"] == {"1": 64}
    assert set(result["accuracy_by_symbol"].values()) != {1.0}  # symbol 4th in line are wrong, whatever they are


def test_an_error_on_one_symbol_shows_in_that_symbol_and_in_errors_per_episode():
    s = stream()
    result = copying_breakdown(Peeker(s.episode_length, lambda p, y: (p >= 0) & (y == 5)), s)
    assert result["accuracy_by_symbol"]["5"] == 0.0
    assert all(a == 1.0 for symbol, a in result["accuracy_by_symbol"].items() if symbol != "5")
    gen = torch.Generator().manual_seed(3)  # the stream's four batches of episodes, redrawn
    fives = torch.cat([(copying_episode(7, 16, gen)[1][:, -RECALL:] == 5).sum(1) for _ in range(4)])
    expected = {str(k): int((fives == k).sum()) for k in range(RECALL + 1) if (fives == k).any()}
    assert result["episodes_by_errors"] == expected and len(expected) > 1
    assert "by symbol" in format_breakdown(result)


def test_needs_a_finite_copying_stream():
    with pytest.raises(ValueError, match="finite held-out copying"):
        copying_breakdown(Peeker(7, lambda p, y: y < 0), EpisodeStream("adding", 7, 4, seed=0, heldout=True, episodes=1))
