"""A run's measured costs in its evaluation record: seconds per step and the carried state's bytes."""
import pytest
import torch

from nobptt.records import provenance
from nobptt.records.io import load_file
from nobptt.records.costs import seconds_per_step, steps_per_update, tensor_bytes

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_seconds_per_step_skips_intervals_that_end_in_an_evaluation():
    rows = [{"step": 0, "wall_time_s": 0.0}, {"step": 10, "wall_time_s": 1.0},
            {"step": 20, "wall_time_s": 9.0, "heldout_nll": 1.0},  # 0.8 s/step with the evaluation
            {"step": 30, "wall_time_s": 10.2}, {"step": 40, "wall_time_s": 11.4}]
    assert seconds_per_step(rows) == pytest.approx(0.12)  # median of 0.1, 0.12, 0.12
    assert seconds_per_step(rows[:1]) is None


def test_tensor_bytes_counts_every_tensor_in_a_nest():
    state = {"h": torch.zeros(2, 3), "traces": {"M": torch.zeros(2, 3, 5, dtype=torch.float64)},
             "window": [torch.zeros(4, dtype=torch.int64), (torch.zeros(1),)], "steps": 7}
    assert tensor_bytes(state) == 2 * 3 * 4 + 2 * 3 * 5 * 8 + 4 * 8 + 4


def test_steps_per_update_follows_update_every_or_the_episode():
    assert steps_per_update({"model": {"update_every": 5}, "task": {"name": "ptb_char"}}) == 5
    assert steps_per_update({"model": {"update_every": 0}, "task": {"name": "copying", "T": 10, "recall": 3}}) == 16
    assert steps_per_update({"model": {"name": "esn"}, "task": {"name": "add"}}) is None
    # Bouncing: full BPTT and SAB update once per sequence of frames - 1 predictions
    assert steps_per_update({"model": {"name": "bptt", "update_every": 0}, "task": {"name": "bouncing"}}) == 19
    assert steps_per_update({"model": {"name": "sab"}, "task": {"name": "bouncing", "frames": 10}}) == 9
    assert steps_per_update({"model": {"name": "ptncn"}, "task": {"name": "bouncing"}}) is None
    # SAB and its baselines update once per episode or window, by their registry entry, on any task;
    # the ESN's ridge readout never updates by an optimizer, even on an episodic task
    assert steps_per_update({"model": {"name": "sab_lstm_bptt"}, "task": {"name": "adding", "T": 50}}) == 50
    assert steps_per_update({"model": {"name": "sab", "window": 100}, "task": {"name": "ptb_char"}}) == 100
    assert steps_per_update({"model": {"name": "esn", "readout": "ridge"}, "task": {"name": "copying"}}) is None
    # the frequency task: one update per left-padded batch of sequences
    assert steps_per_update({"model": {"name": "bptt", "update_every": 0}, "task": {"name": "freq"}}) == 125
    assert steps_per_update({"model": {"name": "eprop", "update_every": 0},
                             "task": {"name": "freq", "sampling": "0.1ms"}}) == 1250
    # full BPTT per sentence: an update per padded batch of sentences, whose length varies
    assert steps_per_update({"model": {"name": "bptt", "update_every": 0}, "task": {"name": "ptb_char_sentences"}}) is None


def test_an_evaluation_record_carries_the_runs_costs_and_tables_show_them(tmp_path, monkeypatch, capsys):
    from nobptt.cli import main

    monkeypatch.setattr(provenance, "tree_state", lambda root=None: {"commit": SHA, "clean": True, "dirty": []})
    run, out = tmp_path / "run", tmp_path / "results" / "costs.json"
    assert main(["train", "copying_online", "--run-dir", str(run), "--set", "model.update_every=0",
                 "--set", "train.progress=false", "--set", "train.eval_every=0", "--set", "train.epoch_steps=16",
                 "--set", "task.eval_sequences=8", "--set", "task.eval_batch_size=8", "--steps", "64"]) == 0
    assert main(["eval", str(run), "--out", str(out)]) == 0
    costs = load_file(out)["records"][0]["runs"][0]["costs"]
    # RTRL carries h (B x n) and the influence matrix (B x n x p) in float32; p of a 32-unit RNN on 10 inputs
    n, p, B = 32, 32 * 32 + 32 * 10 + 32, 32
    assert costs["state_bytes"] == 4 * B * n * (1 + p)  # the step counter is not a tensor
    assert costs["train_s_per_step"] > 0
    capsys.readouterr()
    assert main(["results", "--results", str(out.parent), "--columns", "label,ms_per_step,ms_per_update,state_bytes"]) == 0
    table = capsys.readouterr().out
    assert "ms per update" in table and "MB" in table


@pytest.mark.parametrize("name", ["copying", "adding", "bouncing", "freq"])
def test_a_tasks_declared_episode_length_is_its_streams(name):
    """The records read a task's episode length from its registration, without building the stream
    (nobptt.records.labels.episode_length); it must be the length the stream's episodes have."""
    from nobptt.records.labels import episode_length
    from nobptt.tasks.registry import get_task_spec

    spec = get_task_spec(name)
    task = {"copying": {"T": 7, "recall": 3}, "adding": {"T": 9}, "bouncing": {"frames": 6, "size": 32},
            "freq": {"sampling": "async"}}[name]
    stream = spec.factory(spec.config_cls(**task), "train", 0, "cpu")
    assert episode_length({"task": {"name": name, **task}, "model": {}}) == stream.episode_length
