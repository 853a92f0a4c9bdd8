"""The generic trainer: prequential scoring, checkpoints, resume, divergence."""
import json

import pytest
import torch

from nobptt.errors import ConfigError
from nobptt.learners.registry import build_learner, get_learner_spec
from nobptt.train.clipping import clip_gradients
from nobptt.train.config import TrainConfig
from nobptt.train.metrics import first_non_finite
from nobptt.train.optim import OptimConfig, make_optimizer
from nobptt.train.trainer import DivergedError, Trainer, seed_everything
from toy import CycleStream

SMALL = dict(groups=24, k=4, classifier_hidden=16, boost_strength=1.0)


def make_trainer(tmp_path, steps=60, name="brsm", optim=None, train=None, **model):
    seed_everything(0)
    stream = CycleStream()
    learner = build_learner(name, {**(SMALL if name != "lstm" else {}), **model}, stream.input_dim,
                            stream.n_classes)
    cfg = TrainConfig(steps=steps, epoch_steps=10, eval_every=30, eval_steps=5, eval_warmup=2,
                      checkpoint_every=20, progress=False, **(train or {}))
    optim = OptimConfig(**{**get_learner_spec(name).optim, **(optim or {})})
    return Trainer(learner, stream, cfg, tmp_path, make_eval_stream=lambda: CycleStream(seed=99), optim=optim)


def test_short_run_learns_a_deterministic_cycle(tmp_path):
    trainer = make_trainer(tmp_path, steps=300)
    last = trainer.run()
    assert last["prequential_accuracy"] > 0.9  # chance is 0.25
    assert last["heldout_accuracy"] > 0.9
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "prequential_accuracy" in r] == list(range(10, 301, 10))
    assert (tmp_path / "checkpoint.pt").exists() and (tmp_path / "summary.json").exists()


LSTM_SMALL = dict(hidden=8, k1=3, k2=3, classifier_hidden=16)


@pytest.mark.parametrize("name,model", [("brsm", {}), ("lstm", LSTM_SMALL)])
def test_resume_gives_the_same_next_metrics(tmp_path, name, model):
    make_trainer(tmp_path / "full", steps=60, name=name, **model).run()
    make_trainer(tmp_path / "half", steps=40, name=name, **model).run()  # stops mid-window for k1=3
    resumed = make_trainer(tmp_path / "half", steps=60, name=name, **model)
    resumed.resume()
    assert resumed.step == 40
    resumed.run()

    def rows(path):
        out = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
        # the interrupted run also evaluated at its last step (40); compare training metrics there
        return [{k: v for k, v in r.items() if k != "wall_time_s" and not (r["step"] == 40 and k.startswith("heldout_"))}
                for r in out]
    assert rows(tmp_path / "full") == rows(tmp_path / "half")


def test_divergence_stops_with_a_clear_message_and_keeps_the_checkpoint(tmp_path):
    trainer = make_trainer(tmp_path, steps=100)
    trainer.config.steps = 20
    trainer.run()
    good = (tmp_path / "checkpoint.pt").read_bytes()
    trainer.config.steps = 100
    with torch.no_grad():
        trainer.learner.decoder.weight.fill_(float("nan"))
    with pytest.raises(DivergedError, match="non-finite .* at step 21.*last good checkpoint"):
        trainer.run()
    assert (tmp_path / "checkpoint.pt").read_bytes() == good
    assert json.loads((tmp_path / "diverged.json").read_text())["step"] == 21  # what a sweep reads


def test_a_divergence_before_any_checkpoint_does_not_offer_a_resume(tmp_path):
    trainer = make_trainer(tmp_path, steps=100)
    with torch.no_grad():
        trainer.learner.decoder.weight.fill_(float("nan"))
    with pytest.raises(DivergedError, match="at step 1; no checkpoint was written yet, so there is nothing to "
                                           "resume. Start again in a new run folder") as caught:
        trainer.run()
    assert "--resume" not in str(caught.value) and (tmp_path / "diverged.json").exists()


def test_gradient_norms_are_logged_and_a_non_finite_one_counts_as_divergence(tmp_path):
    make_trainer(tmp_path, steps=30, name="lstm", optim={"grad_clip": 0.05}, **LSTM_SMALL).run()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in rows if "loss" in r]
    assert epochs and all(r["grad_norm"] > 0 and 0.0 <= r["clipped"] <= 1.0 for r in epochs)
    weight = torch.nn.Parameter(torch.ones(3))
    weight.grad = torch.tensor([1.0, float("nan"), 0.0])
    assert first_non_finite(clip_gradients([weight], 1.0)) == "grad_norm"


def test_the_epoch_maximum_of_the_gradient_norm_is_logged(tmp_path, monkeypatch):
    import nobptt.train.clipping as clipping
    norms = []

    def recording(parameters, max_norm, median_clip=None):
        out = clip_gradients(parameters, max_norm, median_clip)
        norms.append(out["grad_norm"])
        return out
    monkeypatch.setattr(clipping, "clip_gradients", recording)
    make_trainer(tmp_path, steps=30, name="lstm", optim={"grad_clip": 0.05}, **LSTM_SMALL).run()
    epochs = [r for r in map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines()) if "loss" in r]
    # only the names in train.log_max get a maximum (default: grad_norm)
    assert {k for r in epochs for k in r if k.endswith("_max")} == {"grad_norm_max"}
    assert all(r["grad_norm_max"] >= r["grad_norm"] for r in epochs)
    assert max(r["grad_norm_max"] for r in epochs) == pytest.approx(max(norms))
    assert any(r["grad_norm_max"] > r["grad_norm"] * (1 + 1e-9) for r in epochs)  # not the mean again


def test_resume_reads_a_checkpoint_written_before_epoch_maxima(tmp_path):
    make_trainer(tmp_path, steps=25, name="lstm", **LSTM_SMALL).run()  # stops mid-epoch
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    sums, counts, _ = ckpt["epoch_sums"]
    ckpt["epoch_sums"] = (sums, counts)
    torch.save(ckpt, tmp_path / "checkpoint.pt")
    (tmp_path / "checkpoint.pt.sha256").unlink()  # such checkpoints were written without checksums
    resumed = make_trainer(tmp_path, steps=30, name="lstm", **LSTM_SMALL)
    resumed.resume()
    assert resumed.epoch.sums == sums and resumed.epoch.maxima == {}
    assert "grad_norm_max" in resumed.run()  # the epoch's maximum from the resume on


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    trainer = make_trainer(tmp_path, steps=20)
    trainer.run()
    good = (tmp_path / "checkpoint.pt").read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(torch, "save", explode)
    with pytest.raises(OSError):
        trainer.save()
    assert (tmp_path / "checkpoint.pt").read_bytes() == good
    assert not list(tmp_path.glob("*.tmp"))


def test_loading_an_earlier_checkpoint_to_evaluate_keeps_the_metrics_log(tmp_path):
    trainer = make_trainer(tmp_path, steps=20)
    trainer.run()
    trainer.save(tmp_path / "early.pt")
    trainer.config.steps = 60
    trainer.run()
    log = (tmp_path / "metrics.jsonl").read_text()
    reader = make_trainer(tmp_path, steps=60)
    reader.resume(tmp_path / "early.pt", truncate_log=False)
    assert reader.step == 20 and (tmp_path / "metrics.jsonl").read_text() == log
    reader.resume(tmp_path / "early.pt")  # continuing from it: the later rows will be redone
    assert max(json.loads(r)["step"] for r in (tmp_path / "metrics.jsonl").read_text().splitlines()) == 20


def test_resume_trains_with_the_learning_rate_of_the_config_in_effect(tmp_path):
    make_trainer(tmp_path, steps=20, name="lstm", **LSTM_SMALL).run()

    def resumed_lrs(**optim):
        trainer = make_trainer(tmp_path, steps=40, name="lstm", **LSTM_SMALL,
                               optim={**optim, "lr_decay": 0.1, "lr_decay_from": 20, "lr_decay_every": 1000})
        trainer.resume()
        return [group["lr"] for group in trainer.optimizer.param_groups]
    # the saved optimizer state holds the old lr; the resumed run takes the new config's
    assert resumed_lrs(lr=0.02, classifier_lr=0.03) == pytest.approx([0.002, 0.003])
    assert resumed_lrs(lr=0.5, classifier_lr=0.5) == pytest.approx([0.05, 0.05])


def test_adam_beta2_and_eps_come_from_the_config_also_on_resume(tmp_path):
    make_trainer(tmp_path, steps=20, name="lstm", **LSTM_SMALL).run()  # saved with 0.999 and 1e-8
    trainer = make_trainer(tmp_path, steps=40, name="lstm", **LSTM_SMALL)
    assert all(g["betas"] == (0.9, 0.999) and g["eps"] == 1e-8 for g in trainer.optimizer.param_groups)
    optim = OptimConfig(**{**get_learner_spec("lstm").optim, "adam_beta2": 0.99, "adam_eps": 1e-5})
    trainer = Trainer(trainer.learner, trainer.stream, trainer.config, tmp_path, optim=optim)
    trainer.resume()  # the checkpoint's optimizer state says 0.999 and 1e-8; the config wins
    assert all(g["betas"] == (0.9, 0.99) and g["eps"] == 1e-5 for g in trainer.optimizer.param_groups)
    trainer.run()
    assert trainer.step == 40 and all(g["betas"] == (0.9, 0.99) for g in trainer.optimizer.param_groups)
    with pytest.raises(ConfigError, match="adam_beta2"):
        make_optimizer(trainer.learner, OptimConfig(adam_beta2=1.0))


def test_classifier_lr_is_the_classifier_groups_and_0_means_lr(tmp_path):
    trainer = make_trainer(tmp_path, name="lstm", optim={"lr": 0.01, "classifier_lr": 0.02}, **LSTM_SMALL)
    assert {g["name"]: g["lr"] for g in trainer.optimizer.param_groups} == {"lstm": 0.01, "classifier": 0.02}
    trainer = make_trainer(tmp_path, name="lstm", optim={"lr": 0.01, "classifier_lr": 0.0}, **LSTM_SMALL)
    assert [g["lr"] for g in trainer.optimizer.param_groups] == [0.01, 0.01]
    learner = build_learner("sab", {"hidden": 4, "attn_dim": 2}, 4, 4)  # one group, "sab"
    with pytest.raises(ConfigError, match="classifier_lr=0.1 but this learner has no classifier"):
        make_optimizer(learner, OptimConfig(classifier_lr=0.1))


def test_a_learner_with_local_updates_refuses_a_clip(tmp_path):
    with pytest.raises(ConfigError, match="RSMLearner is not clipped"):
        make_trainer(tmp_path, name="brsm", optim={"grad_clip": 1.0})
    trainer = make_trainer(tmp_path, steps=10, name="brsm")
    assert "grad_norm" not in trainer.run()  # nothing clipped, nothing logged


def test_patience_stops_after_that_many_evaluations_without_a_better_one(tmp_path, monkeypatch):
    # evaluations every 30 steps: 5.0, 4.0 (best, step 60), then three worse ones -> stop at 150
    patient = {"best_metric": "heldout_nll", "patience": 3}
    trainer = make_trainer(tmp_path, steps=300, train=patient)
    values = iter([5.0, 4.0, 4.5, 4.2, 4.1, 3.0, 2.0, 2.5, 2.6, 2.7])
    monkeypatch.setattr(trainer, "evaluate", lambda: {"heldout_nll": next(values)})
    last = trainer.run()
    assert trainer.step == 150 and last["stopped_early"] is True
    assert trainer.best == {"step": 60, "heldout_nll": 4.0}
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["step"] == 150
    assert torch.load(tmp_path / "best.pt", weights_only=False)["step"] == 60
    # a resume with the same patience stays stopped; with more patience it trains on
    again = make_trainer(tmp_path, steps=300, train=patient)
    again.resume()
    assert again.stopped_early and again.run() and again.step == 150
    more = make_trainer(tmp_path, steps=300, train={**patient, "patience": 5})
    more.resume()
    monkeypatch.setattr(more, "evaluate", lambda: {"heldout_nll": next(values)})
    more.run()
    assert more.step == 300 and more.best == {"step": 210, "heldout_nll": 2.0}


def test_patience_without_a_metric_to_watch_is_refused(tmp_path):
    with pytest.raises(ValueError, match="train.patience=2 needs train.best_metric"):
        make_trainer(tmp_path, train={"patience": 2})
