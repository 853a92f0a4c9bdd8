"""Experiment configs: named TOML files in ``nobptt/experiments`` plus ``--set`` overrides.

An experiment has three sections, each validated against a dataclass so that a misspelt key or a
value of the wrong type is reported with its full name and the keys that would have been valid:

* ``[task]``  - ``name`` plus the task's fields (see ``nobptt.tasks.registry``)
* ``[model]`` - ``name`` plus the learner's fields (see ``nobptt.learners.registry``)
* ``[train]`` - the trainer's fields (``TrainConfig``)
"""
from __future__ import annotations

import dataclasses
import difflib
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from nobptt.errors import ConfigError  # noqa: F401  (re-exported: nobptt.config.ConfigError)

SECTIONS = ("task", "model", "train")




@dataclass
class TrainConfig:
    steps: int = 10_000  # time steps (= batches of parallel streams = optimizer steps)
    epoch_steps: int = 100  # metrics row + learner.on_epoch_end() every this many steps
    eval_every: int = 1000  # held-out evaluation interval in steps; 0 = only at the end
    eval_from_step: int = 0  # no held-out evaluation before this step (e.g. before a read-out learns)
    eval_steps: int = 100  # scored held-out steps per evaluation
    eval_warmup: int = 20  # unscored held-out steps first, so the memory has some context
    checkpoint_every: int = 1000  # steps; the final step is always checkpointed
    seed: int = 0
    device: str = "cpu"  # cpu | cuda | cuda:N
    threads: int = 0  # torch.set_num_threads; 0 = leave torch's default
    # keep memory freed after an update for the next one (glibc; nobptt/train/allocator.py)
    keep_freed_memory: bool = True
    # flush denormal floats to zero on the CPU (torch.set_flush_denormal): gradients carried back
    # hundreds of steps through an LSTM shrink into the denormal range, where x86 arithmetic is many
    # times slower; full BPTT on adding at T = 400 ran 3.6x faster with it on an Intel Xeon (scripts/denormals.py)
    flush_denormal: bool = True
    progress: bool = True  # tqdm progress bar
    # comma-separated logged scalars whose per-epoch maximum is logged too, as NAME_max: the mean
    # gradient norm of an epoch dilutes a burst of a few updates (README, "What the validation
    # collapses are"); the maximum shows it
    log_max: str = "grad_norm"
    # Keep a copy of the checkpoint with the best held-out value of this metric (best.pt):
    # "heldout_nll" (lower is better) or "heldout_accuracy" (higher is better); "" = none.
    best_metric: str = ""
    optimizer: str = "adam"  # adam | sgd (plain SGD, e.g. for Zaremba et al.'s LSTM language model)
    # Adam's second-moment decay and epsilon (torch's defaults). After a quiet stretch Adam divides
    # a sudden large gradient by a second moment that still remembers the small ones, so a burst
    # becomes a step of a few times the lr whatever its norm; a shorter memory (e.g. 0.99) or a
    # larger epsilon damps that (README, "What the validation collapses are"). Applied on resume too.
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    # Step decay of every group's learning rate: x lr_decay every lr_decay_every steps from step
    # lr_decay_from on (the first decay happens at lr_decay_from); lr_decay_every = 0: constant.
    lr_decay: float = 1.0
    lr_decay_every: int = 0
    lr_decay_from: int = 0


def experiments_dir() -> Path:
    return Path(str(resources.files("nobptt") / "experiments"))


def list_experiments() -> dict[str, str]:
    """Experiment name -> first line of its header comment."""
    out = {}
    for path in sorted(experiments_dir().glob("*.toml")):
        first = path.read_text().splitlines()[0] if path.stat().st_size else ""
        out[path.stem] = first.lstrip("# ").strip()
    return out


def load_experiment(name_or_path: str) -> tuple[str, dict[str, dict[str, Any]]]:
    """Read an experiment by name (``nobptt list``) or by path to a TOML file."""
    path = Path(name_or_path)
    if not (path.suffix == ".toml" and path.exists()):
        path = experiments_dir() / f"{name_or_path}.toml"
        if not path.exists():
            hint = difflib.get_close_matches(name_or_path, list(list_experiments()), n=3)
            raise ConfigError(f"unknown experiment {name_or_path!r}"
                              + (f"; did you mean {', '.join(hint)}?" if hint else "")
                              + "; see `nobptt list` or pass a path to a .toml file")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err
    unknown = set(raw) - set(SECTIONS)
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {sorted(unknown)}; allowed: {list(SECTIONS)}")
    return path.stem, {s: dict(raw.get(s, {})) for s in SECTIONS}


def parse_override(text: str) -> tuple[str, str, Any]:
    """``"model.k=60"`` -> ("model", "k", 60). Values are read as TOML, else kept as strings."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ConfigError(f"override {text!r} must look like section.key=value, e.g. model.k=60")
    key, value = text.split("=", 1)
    section, field = key.strip().split(".", 1)
    if section not in SECTIONS:
        raise ConfigError(f"override {text!r}: unknown section {section!r}; use one of {SECTIONS}")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return section, field.strip(), parsed


def apply_overrides(config: dict[str, dict[str, Any]], overrides: list[str]) -> dict[str, dict[str, Any]]:
    config = {s: dict(v) for s, v in config.items()}
    for text in overrides:
        section, field, value = parse_override(text)
        config[section][field] = value
    return config


def coerce(section: str, field: dataclasses.Field, value: Any, owner: str) -> Any:
    """Check ``value`` against the field's annotated type (int, float, bool or str).

    Annotations are strings here (``from __future__ import annotations``); ints are accepted
    where a float is expected, bools are never accepted as ints.
    """
    name = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
    expected = {"int": int, "float": float, "bool": bool, "str": str}.get(name)
    if expected is None:
        return value
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (expected is int and isinstance(value, bool)) or not isinstance(value, expected):
        raise ConfigError(f"{section}.{field.name}={value!r} for {owner}: expected {name}, "
                          f"got {type(value).__name__}")
    return value


def validate_section(section: str, values: dict[str, Any], config_cls: type, owner: str) -> dict[str, Any]:
    """Return ``values`` with types checked; unknown keys raise with close matches listed."""
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    out = {}
    for key, value in values.items():
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=3)
            raise ConfigError(f"unknown key {section}.{key} for {owner}"
                              + (f" (did you mean {', '.join(close)}?)" if close else "")
                              + f"; valid keys: {', '.join(fields)}")
        out[key] = coerce(section, fields[key], value, owner)
    return out


def resolve(config: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Validate every section and fill in defaults: the full config that a run records."""
    from nobptt.learners.registry import get_learner_spec
    from nobptt.tasks.registry import get_task_spec

    resolved: dict[str, dict[str, Any]] = {}
    for section, lookup in (("task", get_task_spec), ("model", get_learner_spec)):
        values = dict(config.get(section, {}))
        name = values.pop("name", None)
        if name is None:
            raise ConfigError(f"[{section}] needs a name, e.g. {section}.name=...")
        try:
            spec = lookup(name)
        except KeyError as err:
            raise ConfigError(f"{section}.name: {err.args[0]}") from None
        checked = validate_section(section, values, spec.config_cls, f"{section} {name!r}")
        resolved[section] = {"name": name, **dataclasses.asdict(spec.config_cls(**checked))}
    train = validate_section("train", config.get("train", {}), TrainConfig, "the trainer")
    resolved["train"] = dataclasses.asdict(TrainConfig(**train))
    return resolved
