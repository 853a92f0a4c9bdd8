"""Zero-shot evaluation: `nobptt eval RUN --set task.KEY=VALUE` evaluates a frozen trained model on
another task setting, and `--set model.KEY=VALUE` changes only the fields a learner declares
evaluation-only (EVAL_FIELDS of its config class); the record names what was changed."""
import dataclasses
import json

import pytest

from nobptt.cli import main
from nobptt.evaluate import check_eval_overrides, eval_fields
from nobptt.learners.registry import learner_specs

TINY = ["--set", "model.name=esn", "--set", "model.hidden=16", "--set", "train.epoch_steps=20",
        "--set", "train.eval_every=0", "--set", "train.progress=false", "--set", "task.eval_length=200"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run = tmp_path_factory.mktemp("zeroshot") / "run"
    assert main(["train", "add_online", "--steps", "60", "--run-dir", str(run), *TINY]) == 0
    return run


def heldout(capsys, run, *sets):
    capsys.readouterr()
    assert main(["eval", str(run), *[a for s in sets for a in ("--set", s)]]) == 0
    return capsys.readouterr().out


def test_a_frozen_model_is_evaluated_on_another_task_setting_and_the_record_names_the_overrides(run, tmp_path, capsys):
    summary = json.loads((run / "summary.json").read_text())
    assert f"cross-entropy {summary['heldout_nll']:.4f} nats" in heldout(capsys, run)  # no override: as trained
    moved = heldout(capsys, run, "task.t1=2", "task.t2=5")  # the lags the readout learned are gone
    assert f"cross-entropy {summary['heldout_nll']:.4f} nats" not in moved
    floored = heldout(capsys, run, "task.t1=2", "task.t2=5", "model.prob_floor=0.4")
    assert floored.startswith("heldout (checkpoint.pt, task.t1=2, task.t2=5, model.prob_floor=0.4): step 60,")
    assert floored != moved  # the evaluation-only field reached the learner
    out = tmp_path / "zeroshot.json"
    overrides = ["task.t1=2", "task.t2=5", "model.prob_floor=0.4"]
    assert main(["eval", str(run), *[a for o in overrides for a in ("--set", o)], "--out", str(out),
                 "--allow-dirty"]) == 0
    record = json.loads(out.read_text())["records"][0]
    assert record["runs"][0]["overrides"] == overrides
    assert record["label"].endswith("; evaluated with model.prob_floor=0.4")
    assert "prob_floor" not in record["label"].split(";")[0]  # the trained model's label, unchanged
    evaluated = record["runs"][0]["config"]
    assert evaluated["model"]["prob_floor"] == 0.4 and (evaluated["task"]["t1"], evaluated["task"]["t2"]) == (2, 5)
    assert 0 < record["metrics"]["nll_nats"] < 10
    # task overrides alone keep the usual label (the table's "eval overrides" column shows them)
    assert main(["eval", str(run), "--set", "task.t1=2", "--out", str(out), "--allow-dirty"]) == 0
    labels = [r["label"] for r in json.loads(out.read_text())["records"]]
    assert labels[1] == labels[0].split(";")[0]


@pytest.mark.parametrize("override, named", [
    ("model.hidden=8", "model.hidden is fixed by the checkpoint"),
    ("model.name=uoro", "model.name is fixed by the checkpoint"),
    ("optim.lr=0.1", "not optim.lr"),
    ("train.steps=5", "not train.steps"),
])
def test_an_override_the_checkpoint_cannot_honour_is_refused_naming_the_field(run, capsys, override, named):
    capsys.readouterr()
    assert main(["eval", str(run), "--set", override]) == 2
    err = capsys.readouterr().err
    assert named in err
    if override.startswith("model."):
        assert "evaluation-only fields (EVAL_FIELDS of its config class): model.prob_floor" in err


def test_learners_without_evaluation_only_fields_refuse_every_model_override():
    assert eval_fields("esn") == ("prob_floor",) and eval_fields("rtrl") == ()
    with pytest.raises(ValueError, match=r"model.hidden is fixed .* fields \(EVAL_FIELDS of its config class\): none"):
        check_eval_overrides({"model": {"name": "rtrl"}}, ["model.hidden=4"])
    check_eval_overrides({"model": {"name": "rtrl"}}, ["task.t1=2"])


@pytest.mark.parametrize("name", sorted(learner_specs()))
def test_every_declared_evaluation_only_field_is_a_field_of_the_learners_config(name):
    config_cls = learner_specs()[name].config_cls
    fields = {f.name for f in dataclasses.fields(config_cls)}
    declared = getattr(config_cls, "EVAL_FIELDS", ())
    assert isinstance(declared, tuple) and set(declared) <= fields - {"name"}
