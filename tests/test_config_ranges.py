"""Every config value is checked against its range before a run folder exists (issue 38)."""
import dataclasses
import math

import pytest

from nobptt.cli import main
from nobptt.config import ConfigError, resolve
from nobptt.learners.registry import learner_specs
from nobptt.tasks.registry import task_specs
from nobptt.train.config import TrainConfig
from nobptt.train.optim import OptimConfig

# float fields where a negative value has a meaning (a bias, a slope, an initial logit)
NEGATIVE_OK = {("model", "forget_bias"), ("model", "classifier_slope"), ("model", "trace_decay")}


def _numeric(cls):
    return [f.name for f in dataclasses.fields(cls) if f.type in ("int", "float", int, float)]


def _cases():
    for name, spec in task_specs().items():
        for field in _numeric(spec.config_cls):
            yield "task", name, field, spec.config_cls
    for name, spec in learner_specs().items():
        for field in _numeric(spec.config_cls):
            yield "model", name, field, spec.config_cls
    for field in _numeric(OptimConfig):
        yield "optim", None, field, OptimConfig
    for field in _numeric(TrainConfig):
        yield "train", None, field, TrainConfig


CASES = list(_cases())


def _config(section, name, field, value):
    config = {"task": {"name": "adding"}, "model": {"name": "lstm"}, "optim": {}, "train": {}}
    if name is not None:
        config[section]["name"] = name
    config[section][field] = value
    return config


@pytest.mark.parametrize("section,name,field,cls", CASES, ids=[f"{s}-{n or s}-{f}" for s, n, f, _ in CASES])
def test_every_numeric_field_refuses_an_invalid_value_naming_it(section, name, field, cls):
    """Issue 38: "task.batch_size=0 is accepted and reported as a diverged run"; the build asks for
    "a generated sweep of invalid config values for every registered learner, task and trainer field
    (each must give an error naming the field)". -1 is invalid for every count, NaN for every float,
    -1.0 for every float but a few that are signed by nature."""
    is_float = next(f for f in dataclasses.fields(cls) if f.name == field).type in ("float", float)
    bad = [math.nan, math.inf] if is_float else [-1]
    if is_float and (section, field) not in NEGATIVE_OK:
        bad.append(-1.0)
    for value in bad:
        with pytest.raises(ConfigError, match=rf"{section}\.{field}="):
            resolve(_config(section, name, field, value))


def test_defaults_and_experiments_still_resolve():
    from nobptt.config import list_experiments, load_experiment
    for name in list_experiments():
        resolve(load_experiment(name)[1])
    for task in task_specs():
        resolve({"task": {"name": task}, "model": {"name": "lstm"}})
    for learner in learner_specs():
        resolve({"task": {"name": "adding"}, "model": {"name": learner}})


@pytest.mark.parametrize("override,field", [("task.batch_size=0", "task.batch_size"),
                                            ("train.steps=-1", "train.steps"),
                                            ("optim.lr=0", "optim.lr"),
                                            ("optim.lr=nan", "optim.lr")])
def test_cli_refuses_a_bad_value_before_the_run_folder_exists(tmp_path, capsys, override, field):
    """Issue 38: `--set task.batch_size=0` must exit 2 with one line naming the field, no run folder."""
    run = tmp_path / "run"
    assert main(["train", "--set", override, "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert field + "=" in err and err.count("\n") == 1 and "Traceback" not in err
    assert not run.exists()


def _bad_values(section, field, cls):
    is_float = next(f for f in dataclasses.fields(cls) if f.name == field).type in ("float", float)
    if not is_float:
        return ["-1"]
    return ["nan", "inf", *([] if (section, field) in NEGATIVE_OK else ["-1.0"])]


@pytest.mark.parametrize("section,name,field,cls", CASES, ids=[f"{s}-{n or s}-{f}" for s, n, f, _ in CASES])
def test_the_sweep_through_the_command_line(tmp_path, capsys, section, name, field, cls):
    """The same generated sweep through `nobptt train` (issue 38: "each must give an error naming
    the field, exit 2, no traceback, nothing written"): an experiment file with the registered task
    or learner, the invalid value given with --set; one line naming section.field, no run folder."""
    config = _config(section, name, field, 0)
    del config[section][field]
    toml = tmp_path / "exp.toml"
    toml.write_text("".join(f"[{s}]\n" + "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in values.items())
                            for s, values in config.items()))
    run = tmp_path / "run"
    for value in _bad_values(section, field, cls):
        assert main(["train", str(toml), "--set", f"{section}.{field}={value}", "--run-dir", str(run)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"nobptt: error: {section}.{field}=") and err.count("\n") == 1, err
        assert not run.exists()


@pytest.mark.parametrize("override,message", [
    ("task.eval_sequences=100", "task.eval_sequences=100 for task 'adding': must be a multiple of task.eval_batch_size=64"),
    ("task.encoding=morse", "task.encoding='morse' for task 'adding': must be 'onehot' or 'scalar'"),
    ("task.eval_T=1", "task.T=1 (or task.eval_T): adding needs T >= 2 steps"),
])
def test_episode_settings_the_streams_refuse_are_refused_before_a_folder_exists(tmp_path, capsys, override, message):
    """task.eval_sequences not a multiple of task.eval_batch_size raised a ValueError in the stream;
    a held-out setting the stream refuses (eval_T=1 on adding) was found only at the first
    evaluation, after training, as a traceback."""
    run = tmp_path / "run"
    argv = ["train", "adding_sab", "--set", "task.eval_batch_size=64", "--set", override, "--run-dir", str(run)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not run.exists()
