"""Evaluation is one pure function (nobptt.train.evaluation.evaluate), used by the trainer and by
`nobptt eval`, which builds no trainer and no optimizer."""
import json

import pytest

from nobptt import config as cfg
from nobptt.cli import main
from nobptt.run import build_stream, load_learner, read_run_config
from nobptt.train import trainer as trainer_module
from nobptt.train.evaluation import evaluate

SMALL = ["--set", "task.T=3", "--set", "task.batch_size=4", "--set", "task.eval_sequences=16",
         "--set", "task.eval_batch_size=8", "--set", "model.hidden=8", "--set", "model.attn_dim=4",
         "--set", "train.progress=false", "--set", "train.epoch_steps=23", "--set", "train.eval_every=0"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run = tmp_path_factory.mktemp("eval") / "run"
    assert main(["train", "copying_sab", "--steps", "69", "--run-dir", str(run), *SMALL]) == 0
    return run


def test_eval_gives_the_trainers_final_evaluation_without_a_trainer(run, capsys, monkeypatch):
    summary = json.loads((run / "summary.json").read_text())  # the trainer's evaluation at step 69
    config = cfg.resolve(read_run_config(run)["config"])
    stream = build_stream(config, "heldout", "cpu")
    learner, step = load_learner(config, run / "checkpoint.pt", stream)
    metrics = evaluate(learner, stream, config["train"]["eval_warmup"], config["train"]["eval_steps"], "cpu")
    assert step == 69 and metrics == {k: summary[k] for k in ("heldout_accuracy", "heldout_nll")}

    def no_trainer(*args, **kwargs):
        raise AssertionError("nobptt eval built a trainer")
    monkeypatch.setattr(trainer_module.Trainer, "__init__", no_trainer)
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"heldout (checkpoint.pt): step 69, held-out accuracy {100 * summary['heldout_accuracy']:.2f}%")
    assert f"held-out cross-entropy {summary['heldout_nll']:.4f} nats" in out


def test_an_endless_stream_is_read_for_warmup_then_scored_steps():
    from toy import CycleStream

    class Recorder:
        """A learner that predicts the current label and counts the steps it is asked."""

        def __init__(self):
            self.steps, self.mode = 0, []

        def initial_state(self, batch_size, device):
            return {}

        def infer(self, state, batch):
            import torch
            self.steps += 1
            return state, torch.nn.functional.one_hot(batch.label, 4).float() * 10

        def eval(self):
            self.mode.append("eval")

        def train(self):
            self.mode.append("train")

    learner = Recorder()
    metrics = evaluate(learner, CycleStream(), warmup=3, steps=5, device="cpu")
    assert learner.steps == 8 and learner.mode == ["eval", "train"]
    assert metrics["heldout_accuracy"] == 0.0  # the current label is never the next one in a cycle
