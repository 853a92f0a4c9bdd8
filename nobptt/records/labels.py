"""Readable record labels: the row name a table shows (docs/results.md), one rule for the
migration of old records and for the writers (``nobptt eval --out``, ``nobptt report``).

A label names the learner and what its config changes from its experiment file, so the seeds of
one config share it (one row, mean +- std over seeds) and two configs never do. For SAB and its
baselines (the SAB paper's tables) it adds the learning-rate schedule and, on the episodic tasks
(copying, adding), the training length T and the training budget in updates, the columns the SAB
tables are read by.
"""
from __future__ import annotations

import functools
from typing import Any

from nobptt.learners.sab_config import PRESETS

EPISODIC = ("copying", "adding")  # tasks of episodes with a length T; character PTB is one stream
# torch's Adam defaults (nobptt.train.optim.OptimConfig), here so reading records needs no torch
ADAM_BETA2, ADAM_EPS = 0.999, 1e-8
NAMES = {"brsm": "bRSM", "pbrsm": "partitioned bRSM", "rsm": "RSM", "lstm_lm": "LSTM language model",
         "kneser_ney_5": "Kneser-Ney 5-gram"}


def _upgrade(config: dict[str, Any]) -> dict[str, Any]:
    from nobptt.config import upgrade_config  # lazily: nobptt.config imports torch

    return upgrade_config(config)


@functools.lru_cache(maxsize=None)
def _experiment(name: str) -> dict[str, Any] | None:
    """The experiment file's sections (upgraded), or None for an experiment no longer shipped."""
    from nobptt.config import load_experiment
    from nobptt.errors import ConfigError

    try:
        return _upgrade(load_experiment(name)[1])
    except ConfigError:
        return None


def episode_length(config: dict[str, Any]) -> int:
    """Time steps per optimizer update of a learner that updates once per sequence: the task's
    episode (its registered ``episode_length``: copying T + 2 x the recalled length, adding T,
    bouncing frames - 1, the frequency task its padded length), else the model's window
    (character PTB), else 1."""
    import dataclasses

    from nobptt.tasks.registry import task_specs  # lazily: the tasks import torch

    task, model = config["task"], config["model"]
    spec = task_specs().get(task["name"])
    if spec is not None and spec.episode_length is not None:
        known = {f.name for f in dataclasses.fields(spec.config_cls)}  # a record may hold retired fields
        return spec.episode_length(spec.config_cls(**{k: v for k, v in task.items() if k in known}))
    return model.get("window") or 1


def updates(config: dict[str, Any], step: int) -> int:
    """Optimizer updates in ``step`` time steps (one per episode or window)."""
    return step // episode_length(config)


def eval_length(config: dict[str, Any]) -> int | None:
    """The tested length: a resolved config holds the eval overrides (task.eval_T) too."""
    task = config["task"]
    return task.get("eval_T") or task.get("T")


def sab_learner(model: dict[str, Any]) -> str:
    """SAB and its baselines as the SAB tables name them, from the [model] fields (also old
    records that named every baseline "sab")."""
    attention, k_trunc = model.get("attention", "sparse"), model.get("k_trunc", 5)
    bptt = "full BPTT" if not k_trunc else f"truncated BPTT (k = {k_trunc})"
    if attention == "none":
        return f"LSTM, {bptt}"
    if attention == "dense":
        return f"LSTM + self-attention, {bptt}"
    return "SAB"


def differences(config: dict[str, Any], experiment: str | None) -> str:
    """What a SAB-family run's config changes from its experiment file: the hidden size, the
    gradient clip, a median-relative clip and its warm-up, Adam's beta2 / eps where not torch's,
    a forget-gate bias shift."""
    model, optim = config["model"], config.get("optim", {})
    defaults = (_experiment(experiment) if experiment else None) or config
    parts = []
    if model.get("hidden") != defaults["model"].get("hidden"):
        parts.append(f"hidden {model.get('hidden')}")
    if optim.get("grad_clip") != defaults.get("optim", {}).get("grad_clip"):
        parts.append(f"gradient clip {optim.get('grad_clip'):g}")
    if optim.get("grad_clip_median"):  # a clip at F x the median of the last N norms (MedianClip)
        parts.append(f"clip at {optim['grad_clip_median']:g}x the median of {optim.get('grad_clip_window')} norms")
    if optim.get("grad_clip_early_updates"):  # a warm-up: another clip for the first updates
        parts.append(f"clip {optim.get('grad_clip_early', 1.0):g} for the first {optim['grad_clip_early_updates']:,} updates")
    beta2, eps = optim.get("adam_beta2", ADAM_BETA2), optim.get("adam_eps", ADAM_EPS)
    if (beta2, eps) != (ADAM_BETA2, ADAM_EPS):
        parts.append(f"Adam beta2 {beta2:g} eps {eps:g}")
    if model.get("forget_bias", 0.0):
        parts.append(f"forget bias +{model['forget_bias']:g}")
    return "".join(f", {p}" for p in parts)


def schedule(config: dict[str, Any]) -> str:
    """The learning-rate schedule where it is not constant: ", lr 0.001, 0.0001 from update 22,750"."""
    train, optim = config["train"], config.get("optim", {})
    lr = optim.get("lr")
    decay, every = optim.get("lr_decay", 1.0), optim.get("lr_decay_every", 0)
    if decay == 1.0 or not every:
        return ""
    first = optim.get("lr_decay_from") or every  # the trainer's first decay step
    if first >= train["steps"]:  # no decay within this run's budget: a constant rate
        return ""
    start = updates(config, first)
    if first + every > train["steps"]:  # decayed once
        return f", lr {lr:g}, {lr * decay:g} from update {start:,}"
    return f", lr {lr:g}, x{decay:g} every {updates(config, every):,} updates from {start:,}"


def sab_description(config: dict[str, Any], experiment: str | None) -> str:
    """The learner, what differs from the experiment file and the schedule, without the training
    length and budget: a run and its continuation share it (the SAB figures' line colours)."""
    config = _upgrade(config)
    # a decaying schedule names its rate; a constant one only where it is not the experiment file's
    rate = schedule(config) or _changed_rate(config, _experiment(experiment) if experiment else None)
    return sab_learner(config["model"]) + differences(config, experiment) + rate


def sab_label(config: dict[str, Any], experiment: str | None) -> str:
    """"SAB, lr 0.001, 0.0001 from update 27,000; T = 100, 32,500 updates" (see the module)."""
    text = sab_description(config, experiment)
    if config["task"]["name"] in EPISODIC:
        text += f"; T = {config['task'].get('T')}, {updates(config, config['train']['steps']):,} updates"
    return text


def other_label(config: dict[str, Any], experiment: str | None = None) -> str:
    """A short description of a non-SAB learner: "partitioned bRSM", "LSTM tBPTT k1=k2=10", with
    its training length where it is not its experiment file's ("..., 30,000 steps")."""
    model = config["model"]
    name = model.get("name", "unknown")
    defaults = _experiment(experiment) if experiment else None
    if name == "lstm":
        k1, k2 = model.get("k1"), model.get("k2")
        text = f"LSTM tBPTT k1=k2={k1}" if k1 == k2 else f"LSTM tBPTT k1={k1} k2={k2}"
    else:
        text = NAMES.get(name, name) + _changed_fields(model, (defaults or {}).get("model", {}))
    steps = config.get("train", {}).get("steps")
    if defaults and steps is not None and steps != defaults.get("train", {}).get("steps"):
        text += f", {steps:,} steps"
    return text + _changed_rate(config, defaults)


def _changed_rate(config: dict[str, Any], defaults: dict[str, Any] | None) -> str:
    """", lr X" for a learning rate set on the command line (a recipe's probe chose it): part of what
    the row is, so that two runs of one learner at two rates never share a row as if they were seeds."""
    lr, file_lr = config.get("optim", {}).get("lr"), (defaults or {}).get("optim", {}).get("lr")
    return f", lr {lr:g}" if lr is not None and file_lr is not None and lr != file_lr else ""


# learners whose runs share an experiment file and differ by --set (the online learners of
# docs/online.md): their labels name every [model] field that differs from the learner's defaults,
# so that e.g. truncated BPTT with k = 5 and k = 20 never share a row, and every field set back from
# the experiment file's value to the default (freq_plstm's 110 units run at the default 32)
FIELD_LABELLED = ("rtrl", "snap", "snap1", "snap2", "uoro", "eprop", "bptt", "tbptt", "esn")


def _changed_fields(model: dict[str, Any], file_model: dict[str, Any]) -> str:
    name = model.get("name")
    if name not in FIELD_LABELLED:
        return ""
    import dataclasses

    from nobptt.learners.registry import get_learner_spec  # lazily: the learners import torch

    defaults = {f.name: f.default for f in dataclasses.fields(get_learner_spec(name).config_cls)}
    return "".join(f", {key} {value}" for key, value in model.items()
                   if key in defaults and (value != defaults[key] or value != file_model.get(key, value)))


def task_options(task: dict[str, Any]) -> str:
    """Task settings that change what a row measures or how it was trained, where the task's name
    does not say it: per-sentence character PTB's scored end-of-line and its packing
    (docs/ptb.md#character-ptb-per-sentence), character PTB's windowed protocol
    (docs/cells.md#character-ptb-two-protocols), the frequency task's sampling and task 2."""
    name, parts = task.get("name"), []
    if name == "ptb_char_sentences":
        parts += ["<eol> scored"] if task.get("eol") else []
        parts += ["refill streams"] if task.get("packing") == "refill" else []
    elif name == "ptb_char" and task.get("protocol", "stream") != "stream":
        parts.append(f"{task['protocol']} protocol")
    elif name == "freq":
        parts += ["task 2"] if task.get("variant", "single") != "single" else []
        parts += [f"{task['sampling']} sampling"] if task.get("sampling", "1ms") != "1ms" else []
    return "".join(f", {p}" for p in parts)


def record_label(config: dict[str, Any], experiment: str | None = None) -> str:
    """The label of a record of a run with this resolved ``config`` (any layout)."""
    config = _upgrade(config)
    options = task_options(config.get("task", {}))
    if config.get("model", {}).get("name") in PRESETS:
        return sab_label(config, experiment) + options
    return other_label(config, experiment) + options
