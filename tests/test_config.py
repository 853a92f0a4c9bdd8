"""Experiments and overrides: bad keys and values are reported by name."""
import pytest

from nobptt import config as cfg


def test_every_shipped_experiment_resolves():
    names = cfg.list_experiments()
    assert "ssmnist_pbrsm" in names
    for name in names:
        _, raw = cfg.load_experiment(name)
        resolved = cfg.resolve(raw)
        assert set(resolved) == {"task", "model", "optim", "train"}


def test_override_types_and_values():
    _, raw = cfg.load_experiment("ssmnist_pbrsm")
    resolved = cfg.resolve(cfg.apply_overrides(raw, ["model.k=60", "optim.lr=1e-3", "train.device=cpu",
                                                     "model.boost_strength=2", "task.fixed_exemplar=true"]))
    assert resolved["model"]["k"] == 60 and resolved["optim"]["lr"] == 1e-3
    assert resolved["train"]["device"] == "cpu"
    assert resolved["model"]["boost_strength"] == 2.0 and isinstance(resolved["model"]["boost_strength"], float)
    assert resolved["task"]["fixed_exemplar"] is True


@pytest.mark.parametrize("override,message", [
    ("model.kk=60", r"unknown key model.kk .*did you mean k"),
    ("model.k=sixty", r"model.k='sixty'.*expected int"),
    ("model.k=true", r"model.k=True.*expected int"),
    ("train.stepz=5", r"unknown key train.stepz .*steps"),
    ("modle.k=5", r"unknown section 'modle'"),
    ("k=5", r"section.key=value"),
    ("model.name=nosuch", r"unknown learner 'nosuch'"),
])
def test_bad_overrides_name_the_key(override, message):
    _, raw = cfg.load_experiment("ssmnist_pbrsm")
    with pytest.raises(cfg.ConfigError, match=message):
        cfg.resolve(cfg.apply_overrides(raw, [override]))


def test_unknown_experiment_and_bad_toml(tmp_path):
    with pytest.raises(cfg.ConfigError, match="unknown experiment 'ssmnist_pbrsn'.*ssmnist_pbrsm"):
        cfg.load_experiment("ssmnist_pbrsn")
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\nname = 'x'")
    with pytest.raises(cfg.ConfigError, match="bad.toml: not valid TOML"):
        cfg.load_experiment(str(bad))
    extra = tmp_path / "extra.toml"
    extra.write_text("[optimizer]\nlr = 1\n")
    with pytest.raises(cfg.ConfigError, match=r"unknown section\(s\) \['optimizer'\]"):
        cfg.load_experiment(str(extra))


def test_optim_defaults_come_from_the_learner_then_the_experiment_then_set(tmp_path):
    base = {"task": {"name": "ssmnist"}, "model": {"name": "lstm"}}
    assert cfg.resolve(base)["optim"]["lr"] == 1e-3  # the LSTM's own default
    assert cfg.resolve({**base, "model": {"name": "brsm"}})["optim"]["lr"] == 5e-4  # the bRSM's
    assert cfg.resolve({**base, "model": {"name": "lstm_lm"}})["optim"]["grad_clip"] == 5.0
    toml = tmp_path / "mine.toml"
    toml.write_text('[task]\nname = "ssmnist"\n[model]\nname = "sab"\n[optim]\nlr = 2e-3\n')
    _, raw = cfg.load_experiment(str(toml))
    assert cfg.resolve(raw)["optim"]["lr"] == 2e-3 and cfg.resolve(raw)["optim"]["grad_clip"] == 1.0
    resolved = cfg.resolve(cfg.apply_overrides(raw, ["optim.lr=3e-3"]))
    assert resolved["optim"]["lr"] == 3e-3
    with pytest.raises(cfg.ConfigError, match=r"unknown key optim.lrr .*did you mean lr"):
        cfg.resolve(cfg.apply_overrides(raw, ["optim.lrr=1"]))
    with pytest.raises(cfg.ConfigError, match=r"optim.optimizer='rmsprop' must be one of"):
        cfg.resolve(cfg.apply_overrides(raw, ["optim.optimizer=rmsprop"]))


OLD_LAYOUT = {  # a run folder's config.json "config" as written before [optim] existed
    "task": {"name": "copying", "T": 100},
    "model": {"name": "sab", "hidden": 128, "lr": 1e-3, "grad_clip": 0.1, "grad_clip_median": 3.0,
              "grad_clip_window": 200, "grad_clip_early": 1.0, "grad_clip_early_updates": 1000},
    "train": {"steps": 10, "optimizer": "adam", "adam_beta2": 0.99, "adam_eps": 1e-8,
              "lr_decay": 0.1, "lr_decay_every": 1000000, "lr_decay_from": 27000},
}


def test_upgrade_config_moves_the_old_keys_to_optim_and_leaves_the_rest():
    new = cfg.upgrade_config(OLD_LAYOUT)
    assert new["model"] == {"name": "sab", "hidden": 128}
    assert new["train"] == {"steps": 10}
    assert new["optim"] == {"lr": 1e-3, "grad_clip": 0.1, "grad_clip_median": 3.0, "grad_clip_window": 200,
                            "grad_clip_early": 1.0, "grad_clip_early_updates": 1000, "optimizer": "adam",
                            "adam_beta2": 0.99, "adam_eps": 1e-8, "lr_decay": 0.1,
                            "lr_decay_every": 1000000, "lr_decay_from": 27000}
    assert OLD_LAYOUT["model"]["lr"] == 1e-3  # the input is not changed
    assert cfg.upgrade_config(new) == new  # idempotent
    resolved = cfg.resolve(OLD_LAYOUT)  # resolve upgrades too
    assert resolved["optim"]["adam_beta2"] == 0.99 and "lr" not in resolved["model"]
    with pytest.raises(cfg.ConfigError, match=r"run/config.json: model.lr=0.001 .* optim.lr=0.002 disagree"):
        cfg.upgrade_config({**OLD_LAYOUT, "optim": {"lr": 2e-3}}, "run/config.json")


def test_old_keys_in_toml_files_and_overrides_still_work(tmp_path):
    toml = tmp_path / "old.toml"
    toml.write_text('[task]\nname = "ssmnist"\n[model]\nname = "lstm"\nlr = 2e-3\n'
                    '[train]\noptimizer = "sgd"\nsteps = 5\n')
    _, raw = cfg.load_experiment(str(toml))
    assert raw["optim"] == {"lr": 2e-3, "optimizer": "sgd"} and "lr" not in raw["model"]
    resolved = cfg.resolve(cfg.apply_overrides(raw, ["model.classifier_lr=4e-3", "train.lr_decay=0.5"]))
    assert resolved["optim"]["classifier_lr"] == 4e-3 and resolved["optim"]["lr_decay"] == 0.5


def test_an_old_run_folder_resumes_and_evaluates(tmp_path, capsys):
    """A run folder whose config.json has the old layout: resume and eval read it."""
    import json

    from nobptt.cli import main

    run = tmp_path / "run"
    args = ["--set", "task.T=3", "--set", "task.batch_size=4", "--set", "task.eval_sequences=8",
            "--set", "task.eval_batch_size=8", "--set", "model.hidden=8", "--set", "model.attn_dim=4",
            "--set", "train.progress=false", "--set", "train.epoch_steps=23", "--set", "train.eval_every=0"]
    assert main(["train", "copying_sab", "--steps", "46", "--run-dir", str(run), *args]) == 0
    meta = json.loads((run / "config.json").read_text())
    old = meta["config"]
    optim = old.pop("optim")
    old["model"].update({k: optim[k] for k in cfg.MOVED_TO_OPTIM["model"] if k in optim})
    old["train"].update({k: optim[k] for k in cfg.MOVED_TO_OPTIM["train"]})
    (run / "config.json").write_text(json.dumps(meta))
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0
    assert "heldout (checkpoint.pt): step 46" in capsys.readouterr().out
    assert main(["train", "--resume", str(run), "--steps", "69"]) == 0
    assert json.loads((run / "config.json").read_text())["config"]["optim"]["grad_clip"] == 1.0
