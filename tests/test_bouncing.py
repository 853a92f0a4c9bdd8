"""The Bouncing MNIST / notMNIST task's conventions (nobptt/tasks/bouncing.py, docs/bouncing.md)."""
import pytest
import torch

from nobptt.data.mnist import load_mnist
from nobptt.errors import ConfigError
from nobptt.tasks import bouncing as bo
from nobptt.tasks.registry import get_task_spec

SMALL = {"size": 32, "sprite": 14, "frames": 6, "batch_size": 3, "eval_sequences": 4, "eval_batch_size": 2}


def stream(split="train", seed=0, **fields):
    spec = get_task_spec("bouncing")
    return spec.factory(spec.config_cls(**{**SMALL, **fields}), split, seed, "cpu")


def test_a_sprite_at_the_wall_moving_toward_it_bounces_back():
    # right/bottom wall: limit 36 (64 - 28); 34 + 3 = 37 is mirrored to 35 and the velocity flips
    assert bo.trajectory(34, 3, 36, 4) == [34, 35, 32, 29]
    assert bo.trajectory(1, -3, 36, 4) == [1, 2, 5, 8]  # left/top wall: -2 -> 2
    assert bo.trajectory(36, 4, 36, 3) == [36, 32, 28]  # exactly on the wall
    # the batched positions follow the same rule, per axis, and the rendered sprite sits there
    draw = bo.SequenceDraw(glyphs=torch.tensor([0]), starts=torch.tensor([[34, 1]]), velocities=torch.tensor([[3, -3]]))
    where = bo.positions([draw], 36, 4)[0, 0]
    assert where[:, 0].tolist() == [34, 35, 32, 29] and where[:, 1].tolist() == [1, 2, 5, 8]
    pool = torch.zeros(1, 28, 28, dtype=torch.uint8)
    pool[0, 0, 0] = 255  # one lit pixel at the sprite's top-left corner
    video = bo.render(draw, pool, 64, 28, 4)
    for f in range(4):
        lit = video[f].nonzero().tolist()
        assert lit == [[int(where[f, 0]), int(where[f, 1])]]


def test_overlapping_sprites_are_summed_and_clipped_to_one():
    images, _ = load_mnist("test")
    pool = images[:1]
    draw = bo.SequenceDraw(glyphs=torch.tensor([0, 0]), starts=torch.tensor([[10, 10], [10, 10]]),
                           velocities=torch.tensor([[1, 1], [1, 1]]))
    video = bo.render(draw, pool, 64, 28, 3)
    glyph = pool[0].float() / 255
    assert float(video.max()) <= 1.0 and float(video.min()) >= 0.0
    assert torch.allclose(video[0, 10:38, 10:38], (2 * glyph).clamp(max=1.0))
    assert bool(((2 * glyph) > 1).any())  # the clip did something
    # half overlapping: the overlap is the clipped sum, elsewhere each sprite as it is
    draw = bo.SequenceDraw(glyphs=torch.tensor([0, 0]), starts=torch.tensor([[10, 10], [10, 24]]),
                           velocities=torch.tensor([[1, 1], [1, 1]]))
    frame = bo.render(draw, pool, 64, 28, 1)[0]
    expected = torch.zeros(64, 64)
    expected[10:38, 10:38] += glyph
    expected[10:38, 24:52] += glyph
    assert torch.allclose(frame, expected.clamp(max=1.0))


def test_sequences_are_deterministic_per_seed_and_every_sprite_moves():
    a, b = bo.draw_sequence(7, 1000, 2, 36, 4), bo.draw_sequence(7, 1000, 2, 36, 4)
    assert all(torch.equal(getattr(a, f), getattr(b, f)) for f in ("glyphs", "starts", "velocities"))
    draws = [bo.draw_sequence(s, 1000, 2, 36, 4) for s in range(300)]
    v = torch.stack([d.velocities for d in draws])
    assert int(v.min()) == -4 and int(v.max()) == 4 and bool(v.abs().sum(-1).gt(0).all())
    s = torch.stack([d.starts for d in draws])
    assert int(s.min()) == 0 and int(s.max()) == 36
    one, two = stream(seed=3), stream(seed=3)
    for _ in range(12):
        x, y = one.next_batch(), two.next_batch()
        assert torch.equal(x.x, y.x) and torch.equal(x.target_prob, y.target_prob)
    assert not torch.equal(stream(seed=4).next_batch().x, stream(seed=3).next_batch().x)


def test_stream_shapes_framing_resets_and_resume():
    s = stream()
    assert s.input_dim == s.n_classes == 32 * 32
    steps = [s.next_batch() for _ in range(2 * 5)]  # two sequences of 6 frames, 5 predictions each
    for t, batch in enumerate(steps):
        assert batch.x.shape == batch.target_prob.shape == (3, 1024)
        assert bool(batch.reset.all()) == (t % 5 == 0) and not (bool(batch.reset.any()) and t % 5)
        assert batch.ends_sequence == (t % 5 == 4)
        assert 0.0 <= float(batch.x.min()) and float(batch.x.max()) <= 1.0 and float(batch.x.sum()) > 0
        if t % 5 != 4:  # within a sequence the target is the next input
            assert torch.equal(batch.target_prob, steps[t + 1].x)
    saved = s.state_dict()
    rest = [s.next_batch().x for _ in range(7)]
    fresh = stream()
    fresh.load_state_dict(saved)
    assert all(torch.equal(a, fresh.next_batch().x) for a in rest)


@pytest.mark.parametrize("glyphs", ["mnist", "notmnist"])
def test_splits_draw_from_disjoint_glyph_pools(glyphs):
    pools = bo.POOLS[glyphs]
    for a in pools:
        for b in pools:
            if a < b and pools[a][0] == pools[b][0]:
                assert pools[a][2] <= pools[b][1] or pools[b][2] <= pools[a][1], (a, b)
    sizes = {split: bo.glyph_pool(glyphs, split).shape[0] for split in pools}
    assert sizes == ({"train": 55000, "heldout": 5000, "test": 10000} if glyphs == "mnist"
                     else {"train": 8000, "heldout": 1000, "test": 1000})
    heldout = stream("heldout", glyphs=glyphs)
    full = load_mnist("train")[0] if glyphs == "mnist" else None
    if full is not None:
        assert torch.equal(heldout.pool, full[55000:])
    assert heldout.length == 2 * 5 and len([heldout.next_batch() for _ in range(10)]) == 10
    with pytest.raises(StopIteration):
        heldout.next_batch()
    if glyphs == "notmnist":  # the documented duplicates across the split (docs/bouncing.md)
        keys = {split: [bytes(x.numpy().tobytes()) for x in bo.glyph_pool(glyphs, split)] for split in pools}
        train = set(keys["train"])
        assert len(set(sum(keys.values(), []))) == 9804
        assert [sum(k in train for k in keys[s]) for s in ("heldout", "test")] == [23, 10]
    # test sequences come from another seed than held-out ones
    assert stream("test", glyphs=glyphs).seed == heldout.seed + 1


def test_floors_are_measured_on_the_streams_own_sequences():
    s = stream("heldout")
    floors = s.ceilings()
    assert set(floors) == {"copy_last_bce", "copy_last_sse", "mean_frame_bce", "mean_frame_sse"}
    # by hand: the pass's frames, copy-last-frame SSE (the copy clamped as its BCE needs)
    frames = [s.next_batch() for _ in range(s.length)]
    sse = sum(float(((b.x.clamp(0.01, 0.99) - b.target_prob) ** 2).sum()) for b in frames) / (s.length * 2)
    assert floors["copy_last_sse"] == pytest.approx(sse, rel=1e-5)
    assert 0 < floors["mean_frame_sse"] and 0 < floors["mean_frame_bce"] < floors["copy_last_bce"]


def test_config_is_checked():
    spec = get_task_spec("bouncing")
    with pytest.raises(ConfigError, match="size=30"):
        spec.config_cls(size=30, sprite=28)
    with pytest.raises(ConfigError, match="glyphs='emnist'"):
        spec.config_cls(glyphs="emnist")
    with pytest.raises(ConfigError, match="frames=1"):
        spec.config_cls(frames=1)


@pytest.mark.parametrize("learner", ["rtrl", "uoro", "esn", "tbptt", "bptt", "sab"])
def test_each_experiment_file_trains_and_scores_bce(learner, tmp_path):
    """The issue's comparison files resolve and run end to end (shrunk: 12x12 canvas, 3 frames)."""
    import json

    from nobptt.cli import main

    tiny = ["--set", "task.size=12", "--set", "task.sprite=6", "--set", "task.max_speed=2", "--set", "task.frames=3",
            "--set", "task.batch_size=2", "--set", "task.eval_sequences=2", "--set", "task.eval_batch_size=2",
            "--set", "model.hidden=4", "--set", "train.eval_every=10", "--set", "train.epoch_steps=5",
            "--set", "train.checkpoint_every=10", "--set", "train.progress=false"]
    if learner == "tbptt":
        tiny += ["--set", "model.k=2", "--set", "model.update_every=2"]
    if learner == "esn":  # a 4-unit reservoir needs more than 10% of its entries to have eigenvalues
        tiny += ["--set", "model.connectivity=1.0"]
    if learner == "sab":
        tiny += ["--set", "model.k_trunc=1", "--set", "model.attn_dim=4"]
    run = tmp_path / "run"
    assert main(["train", f"bouncing_{learner}", "--steps", "10", "--run-dir", str(run), *tiny]) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 10 and rows[-1]["heldout_bce"] > 0 and rows[-1]["heldout_sse"] > 0
    assert (run / "best.pt").exists()  # best_metric = heldout_bce
