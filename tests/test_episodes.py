"""The copying and adding tasks: determinism, layout and the documented statistics."""
import math

import pytest
import torch

from nobptt.tasks.episodes import (ADDING_CHANCE_MSE, COPY_CHANCE_ACCURACY, EpisodeStream, adding_episode,
                                   copying_episode)


def test_copying_layout():
    inputs, targets = copying_episode(7, 5, torch.Generator().manual_seed(0))
    assert inputs.shape == targets.shape == (5, 27)
    assert ((inputs[:, :10] >= 1) & (inputs[:, :10] <= 8)).all()
    assert (inputs[:, 10:16] == 0).all() and (inputs[:, 16] == 9).all() and (inputs[:, 17:] == 0).all()
    assert (targets[:, :17] == 0).all() and torch.equal(targets[:, 17:], inputs[:, :10])


def test_copying_with_fewer_symbols_to_recall():
    inputs, targets = copying_episode(4, 3, torch.Generator().manual_seed(0), recall=3)
    assert inputs.shape == (3, 10) and (inputs[:, 3:6] == 0).all() and (inputs[:, 6] == 9).all()
    assert (targets[:, :7] == 0).all() and torch.equal(targets[:, 7:], inputs[:, :3])
    # the default draws exactly the literature's episodes (recorded runs keep their data)
    a, b = (torch.Generator().manual_seed(5) for _ in range(2))
    assert torch.equal(copying_episode(4, 3, a)[0], copying_episode(4, 3, b, recall=10)[0])
    stream = EpisodeStream("copying", 4, 2, 0, heldout=True, episodes=1, recall=3)
    weights = [float(stream.next_batch().weight[0]) for _ in range(stream.length)]
    assert stream.length == 10 and weights == [0.0] * 7 + [1.0] * 3


def test_adding_layout_and_statistics():
    inputs, sums = adding_episode(50, 20000, torch.Generator().manual_seed(0))
    markers = inputs[..., 1]
    assert (markers.sum(1) == 2).all()
    assert (markers[:, :25].sum(1) == 1).all() and (markers[:, 25:].sum(1) == 1).all()
    assert torch.allclose((inputs[..., 0] * markers).sum(1), sums)
    assert abs(sums.mean().item() - 1.0) < 0.01
    assert abs(((sums - 1.0) ** 2).mean().item() - ADDING_CHANCE_MSE) < 0.005


def test_copying_symbols_are_uniform():
    inputs, _ = copying_episode(1, 20000, torch.Generator().manual_seed(1))
    freq = torch.bincount(inputs[:, :10].flatten(), minlength=9)[1:].float() / inputs[:, :10].numel()
    assert torch.allclose(freq, torch.full((8,), COPY_CHANCE_ACCURACY), atol=0.003)


@pytest.mark.parametrize("task", ["copying", "adding"])
def test_streams_are_deterministic_from_the_seed_and_resume(task):
    a, b, c = (EpisodeStream(task, 5, 4, seed) for seed in (3, 3, 4))
    first = [a.next_batch() for _ in range(40)]
    assert all(torch.equal(x.x, y.x) for x, y in zip(first, [b.next_batch() for _ in range(40)]))
    assert not all(torch.equal(x.x, y.x) for x, y in zip(first, [c.next_batch() for _ in range(40)]))
    saved = a.state_dict()
    after = [a.next_batch() for _ in range(13)]
    d = EpisodeStream(task, 5, 4, 99)
    d.load_state_dict(saved)
    assert all(torch.equal(x.x, y.x) for x, y in zip(after, [d.next_batch() for _ in range(13)]))


def test_episode_boundaries_and_heldout_scoring():
    stream = EpisodeStream("copying", 3, 2, 0, heldout=True, episodes=2)
    batches = [stream.next_batch() for _ in range(stream.length)]
    assert stream.length == 2 * 23
    assert [b.reset.all().item() for b in batches].count(True) == 2 and batches[23].reset.all()
    assert [b.ends_sequence for b in batches].count(True) == 2 and batches[22].ends_sequence
    assert [float(b.weight[0]) for b in batches[:23]] == [0.0] * 13 + [1.0] * 10
    with pytest.raises(StopIteration):
        stream.next_batch()
    adding = EpisodeStream("adding", 6, 2, 0, heldout=True, episodes=1)
    weights = [float(adding.next_batch().weight[0]) for _ in range(6)]
    assert weights == [0.0] * 5 + [1.0]


def test_chance_levels_are_reported():
    assert EpisodeStream("copying", 3, 2, 0).ceilings()["chance_nll"] == pytest.approx(math.log(8))
    assert EpisodeStream("adding", 3, 2, 0).ceilings()["chance_mse"] == pytest.approx(1 / 6)


def test_adding_heldout_reports_the_constant_predictor_on_its_own_episodes():
    stream = EpisodeStream("adding", 8, 4, 3, heldout=True, episodes=5)
    constant_mse = stream.ceilings()["constant_mse"]  # computed before the stream is read
    sums = []
    for _ in range(5 * 8):
        batch = stream.next_batch()
        if batch.ends_sequence:
            sums.append(batch.target_value[:, 0])
    assert constant_mse == pytest.approx(float(((torch.cat(sums) - 1) ** 2).mean()), abs=1e-6)
    assert "constant_mse" not in EpisodeStream("adding", 8, 4, 3).ceilings()  # endless: no finite set


def test_bad_lengths_are_refused():
    with pytest.raises(ValueError, match="T >= 1"):
        EpisodeStream("copying", 0, 2, 0)
    with pytest.raises(ValueError, match="T >= 2"):
        EpisodeStream("adding", 1, 2, 0)


def test_a_batch_already_on_the_device_is_not_copied_and_others_are_moved():
    from nobptt.tasks.base import Batch

    x = torch.zeros(2, 3)
    batch = Batch(x=x, label=torch.zeros(2, dtype=torch.long), target_x=x, target_label=torch.zeros(2, dtype=torch.long),
                  weight=torch.ones(2), ends_sequence=True)
    assert batch.to("cpu") is batch
    moved = batch.to("meta")  # a device without data: every tensor moves, the rest is kept
    assert moved is not batch and moved.x.device.type == moved.weight.device.type == "meta"
    assert moved.ends_sequence and moved.reset is None
