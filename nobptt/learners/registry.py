"""Registry of learners: a name maps to a class and a config dataclass of defaults.

Everything that lists, builds or tests learners goes through this registry, so a learner added
later appears in ``nobptt list``, in the parametrized tests and in the benchmarks without new code.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from nobptt.learners.base import Learner


@dataclass(frozen=True)
class LearnerSpec:
    name: str
    factory: Callable[..., Learner]  # factory(config, input_dim, n_classes) -> Learner
    config_cls: type
    description: str


_REGISTRY: dict[str, LearnerSpec] = {}


def register_learner(name: str, factory: Callable[..., Learner], config_cls: type,
                     description: str) -> None:
    if name in _REGISTRY:
        raise ValueError(f"learner {name!r} is already registered")
    if not dataclasses.is_dataclass(config_cls):
        raise TypeError(f"config for learner {name!r} must be a dataclass")
    _REGISTRY[name] = LearnerSpec(name, factory, config_cls, description)


def _load_builtin() -> None:
    # Importing the modules registers their learners; kept lazy to avoid import cycles.
    from nobptt.learners import lstm, lstm_lm, rsm, sab  # noqa: F401


def learner_specs() -> dict[str, LearnerSpec]:
    _load_builtin()
    return dict(_REGISTRY)


def get_learner_spec(name: str) -> LearnerSpec:
    specs = learner_specs()
    if name not in specs:
        raise KeyError(f"unknown learner {name!r}; registered learners: {', '.join(sorted(specs))}")
    return specs[name]


def build_learner(name: str, options: dict[str, Any], input_dim: int, n_classes: int) -> Learner:
    """Build learner ``name`` from a dict of config fields (already validated by nobptt.config)."""
    spec = get_learner_spec(name)
    return spec.factory(spec.config_cls(**options), input_dim, n_classes)
