"""Registry of tasks: a name maps to a config dataclass and a stream factory.

A task registers itself with the decorator beside its factory (its config class sits beside it)::

    @register_task("mine", config=MyConfig, description="...")
    def make_mine(config: MyConfig, split: str, seed: int, device: str) -> Stream: ...

This module imports no task: the built-ins are registered by importing ``nobptt.tasks.catalog``,
which the lookups below do on first use.
"""
from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import Callable, TypeVar

from nobptt.tasks.base import Stream

F = TypeVar("F", bound=Callable[..., Stream])


@dataclass(frozen=True)
class TaskSpec:
    name: str
    config_cls: type
    # factory(config, split, seed, device) -> Stream; split is "train" or "heldout" (tasks with a
    # separate test set also accept "test", read only by the final evaluation)
    factory: Callable[..., Stream]
    description: str
    # episode_length(config) -> time steps of every episode, for a task whose batches are synchronised
    # episodes of one length (a learner that updates once per sequence updates once per that many
    # steps: nobptt.records.labels.episode_length); None for a task that is one stream
    episode_length: Callable[..., int] | None = None


_TASKS: dict[str, TaskSpec] = {}


def register_task(name: str, *, config: type, description: str,
                  episode_length: Callable[..., int] | None = None) -> Callable[[F], F]:
    """Function decorator: register the decorated stream factory as task ``name`` (``episode_length``:
    see TaskSpec)."""
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"config for task {name!r} must be a dataclass")

    def decorate(factory: F) -> F:
        if name in _TASKS and _TASKS[name].factory is not factory:
            raise ValueError(f"task {name!r} is already registered")
        _TASKS[name] = TaskSpec(name, config, factory, description, episode_length)
        return factory
    return decorate


def _load_builtin() -> None:
    importlib.import_module("nobptt.tasks.catalog")


def task_specs() -> dict[str, TaskSpec]:
    _load_builtin()
    return dict(_TASKS)


def get_task_spec(name: str) -> TaskSpec:
    specs = task_specs()
    if name not in specs:
        raise KeyError(f"unknown task {name!r}; registered tasks: {', '.join(sorted(specs))}")
    return specs[name]
