"""The windowed protocol (nobptt.tasks.windows): every window from a zero state, random windows
for training, and an evaluation pass scoring the last `scored` predictions of windows every
`scored` tokens, so that each target from window - scored + 1 on is scored exactly once."""
import pytest
import torch

from nobptt.tasks.windows import WindowPass, WindowStream, window_starts
from nobptt.train.evaluation import evaluate
from test_ptb import needs_ptb


def read(stream):
    batches = [stream.next_batch() for _ in range(stream.length)]
    inputs = torch.stack([b.label for b in batches], dim=1)
    targets = torch.stack([b.target_label for b in batches], dim=1)
    weights = torch.stack([b.weight for b in batches], dim=1)
    return batches, inputs, targets, weights


@pytest.mark.parametrize("tokens,window,scored", [(40, 10, 5), (43, 10, 5), (41, 10, 3), (12, 10, 10), (11, 10, 1)])
def test_every_target_from_the_minimum_context_on_is_scored_once_after_a_full_window(tokens, window, scored):
    ids = torch.arange(tokens) + 1
    stream = WindowPass(ids, torch.eye(tokens + 1), batch_size=3, window=window, scored=scored)
    batches, inputs, targets, weights = read(stream)
    episodes = stream.length // window
    # rows are windows: their inputs are consecutive tokens, targets one further along
    by_window = lambda t: t.view(3, episodes, window).transpose(0, 1).reshape(-1, window)  # noqa: E731
    inputs, targets, weights = by_window(inputs), by_window(targets), by_window(weights)
    assert torch.equal(targets[:, :-1], inputs[:, 1:]) and torch.equal(targets[:, 0], inputs[:, 0] + 1)
    scored_ids = sorted(targets[weights > 0].tolist())
    first = window - scored + 1  # the first target index with a full window before it
    assert scored_ids == ids[first:].tolist()
    assert stream.scored_targets == tokens - first
    # each scored prediction has the whole window before it (minContext = window - scored)
    positions = torch.arange(window).expand_as(weights)[weights > 0]
    assert int(positions.min()) == window - scored
    # every window starts from a zero state and ends together
    assert all(bool(b.reset.all()) == (i % window == 0) for i, b in enumerate(batches))
    assert [i for i, b in enumerate(batches) if b.ends_sequence] == list(range(window - 1, stream.length, window))
    with pytest.raises(StopIteration):
        stream.next_batch()


def test_window_starts_follow_the_release_grid_and_a_last_window_takes_the_rest():
    starts, first = window_starts(43, 10, 5)  # targets 6..42: grid starts 0..30, then one at 32
    assert starts.tolist() == [0, 5, 10, 15, 20, 25, 30, 32]
    assert first.tolist() == [5] * 7 + [8]  # the last window scores targets 41 and 42 only
    with pytest.raises(ValueError, match="too short"):
        window_starts(10, 10, 5)
    with pytest.raises(ValueError, match="1 <= scored <= window"):
        window_starts(100, 10, 11)


def test_training_windows_are_random_contiguous_reset_at_their_start_and_resume():
    ids = torch.arange(500)
    stream = WindowStream(ids, torch.eye(500), batch_size=4, window=6, seed=3)
    first = [stream.next_batch() for _ in range(9)]
    assert [bool(b.reset.all()) for b in first] == [True, False, False, False, False, False, True, False, False]
    assert [b.ends_sequence for b in first[:6]] == [False] * 5 + [True]
    assert all(torch.equal(b.target_label, b.label + 1) for b in first)
    assert all(torch.equal(first[i + 1].label, first[i].label + 1) for i in range(5))
    assert not torch.equal(first[6].label, first[5].label + 1)  # a new window, elsewhere
    saved = stream.state_dict()
    more = [stream.next_batch() for _ in range(8)]
    again = WindowStream(ids, torch.eye(500), batch_size=4, window=6, seed=0)
    again.load_state_dict(saved)
    assert all(torch.equal(a.label, b.label) for a, b in zip(more, (again.next_batch() for _ in range(8))))


def test_a_memoryless_model_scores_the_same_under_both_protocols_and_a_model_with_memory_does_not():
    """The windowed pass is an evaluation stream like any other: a learner that ignores its state
    scores the scored targets' mean, one that counts steps since the reset sees the difference."""
    from nobptt.learners.base import forget_streams

    class Counter(torch.nn.Module):  # logits favour the input's successor; confidence grows with context
        def initial_state(self, batch, device):
            return {"n": torch.zeros(batch)}

        def infer(self, state, batch):
            state = forget_streams(state, batch.reset)
            n = state["n"] + 1
            logits = torch.zeros(len(batch.label), 60)
            logits[torch.arange(len(batch.label)), (batch.label + 1) % 60] = n.clamp(max=20) / 4
            return {"n": n}, logits

    ids = torch.arange(400) % 60
    windowed = evaluate(Counter(), WindowPass(ids, torch.eye(60), 7, 20, 5), 0, 0, "cpu")
    stream = evaluate(Counter(), WindowPass(ids, torch.eye(60), 7, 20, 20), 0, 0, "cpu")
    assert windowed["heldout_nll"] < stream["heldout_nll"]  # only well-informed predictions scored
    assert windowed["heldout_accuracy"] == 1.0


@needs_ptb
def test_ptb_char_windows_protocol_builds_both_streams_and_refuses_bad_fields():
    from nobptt.data.ptb import load_ptb
    from nobptt.errors import ConfigError
    from nobptt.tasks.ptb import PTBCharConfig, make_ptb_char

    config = PTBCharConfig(protocol="windows", batch_size=8, eval_batch_size=1000)
    train, valid = make_ptb_char(config, "train", seed=1), make_ptb_char(config, "heldout")
    assert isinstance(train, WindowStream) and isinstance(valid, WindowPass)
    assert valid.scored_targets == len(load_ptb("valid", "char")) - 96
    stream_floor = make_ptb_char(PTBCharConfig(), "heldout").ceilings()["unigram_bpc"]
    assert valid.ceilings()["unigram_bpc"] == pytest.approx(stream_floor, abs=0.01)
    with pytest.raises(ConfigError, match="task.protocol='sentences' must be one of stream, windows"):
        PTBCharConfig(protocol="sentences")
    with pytest.raises(ConfigError, match="task.scored=200 must be at most task.window=100"):
        PTBCharConfig(scored=200)
