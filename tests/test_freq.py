"""The frequency-discrimination tasks (nobptt/tasks/freq.py): label rule, positive half, durations
and sample counts, left padding with resets, one episode per batch, the time channel."""
import math

import pytest
import torch

from nobptt.tasks.freq import (FreqConfig, FreqStream, draw_batch, freq_stream, left_pad, log_uniform_fraction,
                               max_length)
from nobptt.validation import FieldError


def test_task1_label_rule_positive_half_and_durations():
    gen = torch.Generator().manual_seed(0)
    labels, periods, firsts = [], [], []
    for _ in range(40):
        d = draw_batch("single", "1ms", 32, gen)
        assert torch.equal(d["label"], ((d["period"] >= 5) & (d["period"] <= 6)).long())
        assert bool(d["label"][:16].all())  # the first half is forced positive
        assert bool(((d["duration"] >= 15) & (d["duration"] <= 125)).all())
        assert bool((d["start"] + d["duration"] <= 125 + 1e-9).all())
        for t, dur, start in zip(d["times"], d["duration"], d["start"]):
            assert len(t) == math.ceil(float(dur)) and float(t[0]) == pytest.approx(float(start))
            assert torch.allclose(t[1:] - t[:-1], torch.ones(len(t) - 1, dtype=torch.float64))
        labels.append(d["label"])
        periods.append(d["period"][16:])
    drawn = torch.cat(periods)
    assert float(drawn.min()) >= 1.0 and float(drawn.max()) <= 100.0
    # the drawn half: log-uniform, so ln(period) is uniform on [0, ln 100] (mean ln 10)
    assert abs(float(drawn.log().mean()) - math.log(10)) < 0.2
    fraction = float(torch.cat(labels).float().mean())
    assert abs(fraction - (0.5 + 0.5 * log_uniform_fraction(5, 6))) < 0.03  # about 52% positive


def test_sine_values_follow_the_documented_formulas():
    gen = torch.Generator().manual_seed(1)
    d = draw_batch("single", "async", 4, gen)
    for t, v in zip(d["times"], d["values"]):
        assert bool((t[1:] >= t[:-1]).all()) and 15 <= len(t) < 125  # sorted random times, int(U(15, 125))
    # the value is sin(2 pi t / period - shift) for some shift in [0, duration]: recover it at t[0]
    t, v, p = d["times"][0], d["values"][0], d["period"][0]
    shifts = torch.linspace(0, float(d["duration"][0]), 200001, dtype=torch.float64)
    best = shifts[(torch.sin(2 * math.pi / p * t[:1] - shifts) - v[0]).abs().argmin()]
    assert torch.allclose(torch.sin(2 * math.pi / p * t - best), v, atol=1e-3)


def test_task2_label_needs_both_periods_and_is_asynchronous():
    gen = torch.Generator().manual_seed(2)
    d = draw_batch("combo", "async", 64, gen)
    both = (d["period"] >= 5) & (d["period"] <= 6) & (d["period2"] >= 13) & (d["period2"] <= 15)
    assert torch.equal(d["label"], both.long()) and bool(d["label"][:32].all())
    assert all(100 <= len(t) < 1000 for t in d["times"])
    with pytest.raises(FieldError):
        FreqConfig(variant="combo", sampling="1ms")


def test_sequences_are_left_padded_and_reset_until_their_first_sample():
    x, mask = left_pad([torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0, 5.0])],
                       [torch.tensor([0.1, 0.2]), torch.tensor([0.3, 0.4, 0.5])], 4)
    assert mask.tolist() == [[False, False, True, True], [False, True, True, True]]
    assert x[0, :, 1].tolist() == [0.0, 0.0, 1.0, 2.0]  # the time is the last channel
    stream = FreqStream("single", "1ms", 8, seed=0)
    assert stream.episode_length == 125 == max_length("single", "1ms")
    assert max_length("single", "0.1ms") == 1250 and max_length("combo", "async") == 1000
    lengths = stream.mask.sum(1)
    batches = [stream.next_batch() for _ in range(125)]
    for t, batch in enumerate(batches):
        first_real = 125 - lengths
        assert torch.equal(batch.mask, t >= first_real)
        assert torch.equal(batch.reset, t <= first_real)  # padding and the first real step
        assert batch.ends_sequence == (t == 124)
        assert float(batch.weight.sum()) == (8.0 if t == 124 else 0.0)  # scored at the last step only
        assert bool((batch.x[~batch.mask] == 0).all())
    nxt = stream.next_batch()  # a new episode, new sequences
    assert not torch.equal(nxt.target_label, batches[0].target_label) or not torch.equal(stream.mask.sum(1), lengths)


def test_heldout_is_fixed_and_differs_from_test():
    config = FreqConfig(eval_sequences=8, eval_batch_size=4)
    a, b = freq_stream(config, "heldout", 0, "cpu"), freq_stream(config, "heldout", 5, "cpu")
    assert a.length == 2 * 125 and torch.equal(a.x, b.x)
    assert not torch.equal(a.x, freq_stream(config, "test", 0, "cpu").x)
    assert a.ceilings()["chance"] == pytest.approx(0.5 + 0.5 * math.log(1.2) / math.log(100))


@pytest.mark.parametrize("learner", ["bptt", "snap1"])
def test_a_phased_lstm_trains_on_the_task_from_the_command_line(tmp_path, learner):
    """Two batches of sequences through the trainer: full BPTT and an online learner on the Phased
    LSTM, the gate-open fraction in the metrics, a held-out accuracy, and a resume."""
    import json

    from nobptt.cli import main

    run = tmp_path / learner
    base = ["--set", f"model.name={learner}", "--set", "model.hidden=4", "--set", "task.eval_sequences=8",
            "--set", "task.eval_batch_size=8", "--set", "task.batch_size=4", "--set", "train.epoch_steps=125",
            "--set", "train.eval_every=250", "--set", "train.checkpoint_every=125", "--set", "train.progress=false"]
    if learner != "bptt":
        base += ["--set", "model.update_every=0"]
    assert main(["train", "freq_plstm", "--steps", "125", "--run-dir", str(run), *base]) == 0
    assert main(["train", "--resume", str(run), "--steps", "250", *base]) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [125, 250]
    assert all(0.0 < r["gate_open"] < 0.5 for r in rows) and 0.0 <= rows[-1]["heldout_accuracy"] <= 1.0
    # the open fraction at inference (no leak): measured by the held-out pass and recorded with the test read
    assert 0.0 < rows[-1]["heldout_gate_open"] < 0.5
    out = tmp_path / "record.json"
    assert main(["eval", str(run), "--split", "test", "--out", str(out), "--allow-dirty"]) == 0
    metrics = json.loads(out.read_text())["records"][0]["metrics"]
    assert 0.0 < metrics["gate_open_fraction"] < 0.5 and "accuracy" in metrics
