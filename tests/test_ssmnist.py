"""The ssMNIST stream: grammar-following labels, uniform subsequence choice, cycling exemplars."""
import collections

import pytest
import torch

from nobptt.tasks.grammar import PAGI9
from nobptt.tasks.ssmnist import MNIST_MEAN, MNIST_STD, SSMNISTStream, make_ssmnist


def synthetic_images(per_digit=7):
    """Images whose first pixel encodes their index, so the exemplar used can be recovered."""
    n = 10 * per_digit
    labels = torch.arange(n) % 10
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    images[:, 0, 0] = torch.arange(n, dtype=torch.uint8)
    return images, labels


def index_of(x):
    return torch.round((x[:, 0] * MNIST_STD + MNIST_MEAN) * 255).long()


def walk(stream, steps):
    return [stream.next_batch() for _ in range(steps)]


def test_labels_follow_the_grammar_and_targets_are_the_next_step():
    images, labels = synthetic_images()
    stream = SSMNISTStream(images, labels, PAGI9, batch_size=16, seed=1)
    batches = walk(stream, 60)
    successors = collections.defaultdict(set)
    for sub in PAGI9:
        for a, b in zip(sub, sub[1:]):
            successors[a].add(b)
    firsts = {sub[0] for sub in PAGI9}
    for prev, nxt in zip(batches, batches[1:]):
        assert torch.equal(prev.target_label, nxt.label) and torch.equal(prev.target_x, nxt.x)
        for a, b in zip(prev.label.tolist(), prev.target_label.tolist()):
            assert b in successors[a] or b in firsts
        assert torch.equal(labels[index_of(prev.x)], prev.label)  # images show their label


def test_subsequence_choice_is_uniform():
    images, labels = synthetic_images()
    stream = SSMNISTStream(images, labels, PAGI9, batch_size=200, seed=2)
    counts = collections.Counter()
    for _ in range(200):
        before = stream.pos.clone()
        stream._advance()
        counts.update(stream.sub[stream.pos < before].tolist())  # streams that just restarted
    n = sum(counts.values())
    expected = n / 8
    chi2 = sum((counts[i] - expected) ** 2 / expected for i in range(8))
    assert n > 3000 and chi2 < 24.3  # chi-square, 7 degrees of freedom, p = 0.001


def test_exemplars_cycle_without_replacement():
    images, labels = synthetic_images(per_digit=7)
    stream = SSMNISTStream(images, labels, [[3]], batch_size=5, seed=3)  # always digit 3
    used = torch.cat([index_of(b.x) for b in walk(stream, 14)])  # 70 draws = 10 full cycles of 7
    for cycle in used.view(10, 7):
        assert sorted(cycle.tolist()) == sorted(torch.nonzero(labels == 3).flatten().tolist())


def test_fixed_exemplar_uses_one_image_per_digit():
    images, labels = synthetic_images()
    stream = SSMNISTStream(images, labels, PAGI9, batch_size=32, seed=4, fixed_exemplar=True)
    seen = collections.defaultdict(set)
    for b in walk(stream, 30):
        for label, ix in zip(b.label.tolist(), index_of(b.x).tolist()):
            seen[label].add(ix)
    assert all(len(v) == 1 for v in seen.values())


def test_state_dict_round_trip_and_seeds():
    images, labels = synthetic_images()
    a = SSMNISTStream(images, labels, PAGI9, batch_size=8, seed=5)
    walk(a, 10)
    saved = a.state_dict()
    expected = walk(a, 10)
    b = SSMNISTStream(images, labels, PAGI9, batch_size=8, seed=99)
    b.load_state_dict(saved)
    for x, y in zip(expected, walk(b, 10)):
        assert torch.equal(x.x, y.x) and torch.equal(x.target_label, y.target_label)
    same = SSMNISTStream(images, labels, PAGI9, batch_size=8, seed=5).next_batch()
    other = SSMNISTStream(images, labels, PAGI9, batch_size=8, seed=6).next_batch()
    first = SSMNISTStream(images, labels, PAGI9, batch_size=8, seed=5).next_batch()
    assert torch.equal(same.x, first.x) and not torch.equal(same.x, other.x)


def test_real_mnist_stream_and_ceilings():
    stream = make_ssmnist("test", batch_size=4, seed=0)
    batch = stream.next_batch()
    assert batch.x.shape == (4, 784) and batch.x.dtype == torch.float32
    assert stream.ceilings()["bayes"] == pytest.approx(8 / 9)
