"""Experiments and overrides: bad keys and values are reported by name."""
import pytest

from nobptt import config as cfg


def test_every_shipped_experiment_resolves():
    names = cfg.list_experiments()
    assert "ssmnist_pbrsm" in names
    for name in names:
        _, raw = cfg.load_experiment(name)
        resolved = cfg.resolve(raw)
        assert set(resolved) == {"task", "model", "train"}


def test_override_types_and_values():
    _, raw = cfg.load_experiment("ssmnist_pbrsm")
    resolved = cfg.resolve(cfg.apply_overrides(raw, ["model.k=60", "model.lr=1e-3", "train.device=cpu",
                                                     "model.boost_strength=2", "task.fixed_exemplar=true"]))
    assert resolved["model"]["k"] == 60 and resolved["model"]["lr"] == 1e-3
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
    extra.write_text("[optim]\nlr = 1\n")
    with pytest.raises(cfg.ConfigError, match=r"unknown section\(s\) \['optim'\]"):
        cfg.load_experiment(str(extra))
