"""Registry of learners: a name maps to a class, a config dataclass of defaults and the learner's
``[optim]`` defaults.

Everything that lists, builds or tests learners goes through this registry, so a learner added
later appears in ``nobptt list``, in the parametrized tests and in the benchmarks without new code.
A learner registers itself with the decorator beside its class::

    @register_learner("mine", config=MyConfig, optim={"lr": 1e-3}, description="...")
    class MyLearner(Learner): ...

This module imports no learner (so no learner module imports it back in a cycle): the built-ins are
registered by importing ``nobptt.learners.catalog``, which the lookups below do on first use.
"""
from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class LearnerSpec:
    name: str
    factory: Callable[..., Any]  # factory(config, input_dim, n_classes) -> Learner
    config_cls: type
    description: str
    # [optim] defaults of this learner (nobptt.train.optim.OptimConfig field -> value)
    optim: dict[str, Any] = field(default_factory=dict)
    # True: one optimizer update per sequence of an episodic task, whatever its config says (SAB and
    # its baselines); records read it for the time per update (nobptt.records.costs)
    per_episode: bool = False


_REGISTRY: dict[str, LearnerSpec] = {}


def register_learner(name: str, *, config: type, description: str,
                     optim: dict[str, Any] | None = None, per_episode: bool = False) -> Callable[[T], T]:
    """Class decorator: register the decorated learner class under ``name``. Stack it to register
    one class under several names (presets: each its own config subclass of defaults)."""
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"config for learner {name!r} must be a dataclass")

    def decorate(cls: T) -> T:
        if name in _REGISTRY and _REGISTRY[name].factory is not cls:
            raise ValueError(f"learner {name!r} is already registered")
        _REGISTRY[name] = LearnerSpec(name, cls, config, description, dict(optim or {}), per_episode)
        return cls
    return decorate


def _load_builtin() -> None:
    importlib.import_module("nobptt.learners.catalog")


def learner_specs() -> dict[str, LearnerSpec]:
    _load_builtin()
    return dict(_REGISTRY)


def get_learner_spec(name: str) -> LearnerSpec:
    specs = learner_specs()
    if name not in specs:
        raise KeyError(f"unknown learner {name!r}; registered learners: {', '.join(sorted(specs))}")
    return specs[name]


def build_learner(name: str, options: dict[str, Any], input_dim: int, n_classes: int) -> Any:
    """Build learner ``name`` from a dict of config fields (already validated by nobptt.config)."""
    spec = get_learner_spec(name)
    return spec.factory(spec.config_cls(**options), input_dim, n_classes)
