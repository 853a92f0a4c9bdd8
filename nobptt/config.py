"""Experiment configs: named TOML files in ``nobptt/experiments`` plus ``--set`` overrides.

An experiment has four sections, each validated against a dataclass so that a misspelt key or a
value of the wrong type is reported with its full name and the keys that would have been valid:

* ``[task]``  - ``name`` plus the task's fields (the config class beside the task, registered in
  ``nobptt.tasks.registry``)
* ``[model]`` - ``name`` plus the learner's fields (the config class beside the learner,
  registered in ``nobptt.learners.registry``)
* ``[optim]`` - optimizer, learning rates, their schedule and the gradient clip
  (``nobptt.train.optim.OptimConfig``); defaults: OptimConfig's, then the learner's own
  (``register_learner(..., optim=...)``), then the experiment's, then ``--set``
* ``[train]`` - the trainer's fields (``nobptt.train.config.TrainConfig``)

Configs written before ``[optim]`` existed (experiment files, run folders' config.json, records)
are read through ``upgrade_config``, which moves the old keys into ``[optim]``.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from nobptt.errors import ConfigError  # noqa: F401  (re-exported: nobptt.config.ConfigError)
from nobptt.train.config import TrainConfig
from nobptt.train.optim import OptimConfig
from nobptt.validation import FieldError

SECTIONS = ("task", "model", "optim", "train")

# Keys that lived in [model] (the learning rates, the clip) or [train] (the optimizer and its
# schedule) before [optim] held them all (issue 37).
MOVED_TO_OPTIM: dict[str, tuple[str, ...]] = {
    "model": ("lr", "classifier_lr", "grad_clip", "grad_clip_median", "grad_clip_window",
              "grad_clip_early", "grad_clip_early_updates"),
    "train": ("optimizer", "adam_beta2", "adam_eps", "lr_decay", "lr_decay_every", "lr_decay_from"),
}


def upgrade_config(raw: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """A copy of ``raw`` (sections -> {key: value}) in the current layout: the old keys of
    ``MOVED_TO_OPTIM`` moved into ``[optim]``. Configs already in the current layout come back
    unchanged; a key given in both places with different values is refused (``source`` names the
    file in the message). Used on experiment files, run folders' config.json and old records."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    moved = {}
    for section, keys in MOVED_TO_OPTIM.items():
        values = out.get(section)
        if not isinstance(values, dict):
            continue
        for key in keys:
            if key in values:
                moved[key] = (section, values.pop(key))
    if not moved:
        return out
    optim = out.setdefault("optim", {})
    for key, (section, value) in moved.items():
        if key in optim and optim[key] != value:
            raise ConfigError(f"{source}: {section}.{key}={value!r} (the layout before [optim]) and "
                              f"optim.{key}={optim[key]!r} disagree; keep only optim.{key}")
        optim[key] = value
    return out


def experiments_dir() -> Path:
    return Path(str(resources.files("nobptt") / "experiments"))


HEADER_FIELDS = ("Command", "Expected", "Runtime", "Docs")


def experiment_header(path: Path) -> dict[str, str]:
    """An experiment file's header (the comment lines before its first other line): ``purpose``
    (the first line) and the fields ``Command``, ``Expected``, ``Runtime``, ``Docs``, each with
    its indented continuation lines joined. The README's reproduce table is generated from these."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    header = {"purpose": lines[0] if lines else ""}
    current = None
    for body in lines[1:]:
        name = body.split(":", 1)[0]
        if ":" in body and name in HEADER_FIELDS:
            current = name
            header[name] = body.split(":", 1)[1].strip()
        elif current and body:
            header[current] += " " + body
    return header


def list_experiments() -> dict[str, str]:
    """Experiment name -> first line of its header comment."""
    return {path.stem: experiment_header(path)["purpose"] for path in sorted(experiments_dir().glob("*.toml"))}


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
    return path.stem, upgrade_config({s: dict(raw.get(s, {})) for s in SECTIONS}, str(path))


def parse_override(text: str) -> tuple[str, str, Any]:
    """``"model.k=60"`` -> ("model", "k", 60). Values are read as TOML, else kept as strings. A key
    of the layout before ``[optim]`` (``model.lr``, ``train.optimizer``, ...) means its ``optim.``
    key, as in ``upgrade_config``."""
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
    field = field.strip()
    if field in MOVED_TO_OPTIM.get(section, ()):
        section = "optim"
    return section, field, parsed


def apply_overrides(config: dict[str, dict[str, Any]], overrides: list[str]) -> dict[str, dict[str, Any]]:
    config = {s: dict(v) for s, v in config.items()}
    for text in overrides:
        section, field, value = parse_override(text)
        config.setdefault(section, {})[field] = value
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


def build_section(section: str, config_cls: type, values: dict[str, Any], owner: str) -> dict[str, Any]:
    """``config_cls(**values)`` as a dict, its range checks (``__post_init__``, nobptt.validation)
    turned into a ConfigError naming ``section.field``; a float that is NaN or infinite is refused."""
    for key, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{section}.{key}={value!r} for {owner}: must be a finite number")
    try:
        built = config_cls(**values)
    except FieldError as err:
        raise ConfigError(f"{section}.{err.field}={err.value!r} for {owner}: {err.must}") from None
    except ConfigError:
        raise
    except (ValueError, TypeError) as err:
        raise ConfigError(f"[{section}] for {owner}: {err}") from None
    return dataclasses.asdict(built)


def resolve(config: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Validate every section and fill in defaults: the full config that a run records (an old
    layout is upgraded first, ``upgrade_config``)."""
    from nobptt.learners.registry import get_learner_spec
    from nobptt.tasks.registry import get_task_spec

    config = upgrade_config(config)
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
        resolved[section] = {"name": name, **build_section(section, spec.config_cls, checked, f"{section} {name!r}")}
        if section == "model":
            # [optim]: OptimConfig's defaults < the learner's own < the experiment's and --set's
            optim = {**spec.optim, **config.get("optim", {})}
            checked = validate_section("optim", optim, OptimConfig, f"learner {name!r}")
            resolved["optim"] = build_section("optim", OptimConfig, checked, f"learner {name!r}")
    train = validate_section("train", config.get("train", {}), TrainConfig, "the trainer")
    resolved["train"] = build_section("train", TrainConfig, train, "the trainer")
    return resolved
