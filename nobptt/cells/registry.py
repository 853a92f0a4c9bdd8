"""Registry of cells: a name maps to a class built as ``Cls(input_size, hidden)``.

Like the learner registry, this module imports no cell; ``nobptt.cells.catalog`` imports the
built-ins on first lookup, so a cell module may import this one without a cycle.
"""
from __future__ import annotations

import importlib
import inspect
from typing import Callable, TypeVar

from nobptt.errors import ConfigError

T = TypeVar("T")
_CELLS: dict[str, type] = {}


def register_cell(name: str) -> Callable[[T], T]:
    """Class decorator: register a :class:`nobptt.cells.base.Cell` subclass under ``name``."""
    def decorate(cls: T) -> T:
        if name in _CELLS and _CELLS[name] is not cls:
            raise ValueError(f"cell {name!r} is already registered")
        _CELLS[name] = cls  # type: ignore[assignment]
        return cls
    return decorate


def cell_names() -> list[str]:
    importlib.import_module("nobptt.cells.catalog")
    return sorted(_CELLS)


def build_cell(name: str, input_size: int, hidden: int):
    """The cell ``name`` for inputs of ``input_size`` with ``hidden`` units (its own reading of it:
    the LSTM's state is 2 x hidden). ``NAME:DEPTH`` builds a cell that has a recurrence depth (the
    recurrent highway cells, nobptt/cells/rhn.py) with that depth, e.g. ``rhn:10``."""
    names = cell_names()
    base, _, depth = name.partition(":")
    if base not in _CELLS:
        raise ConfigError(f"model.cell={name!r} is not a registered cell; choose one of {names}")
    if not depth:
        return _CELLS[base](input_size, hidden)
    if "depth" not in inspect.signature(_CELLS[base]).parameters:
        raise ConfigError(f"model.cell={name!r}: cell {base!r} has no recurrence depth; write model.cell={base!r}")
    if not depth.isdigit() or int(depth) < 1:
        raise ConfigError(f"model.cell={name!r}: the depth after ':' must be a positive integer, e.g. {base}:5")
    return _CELLS[base](input_size, hidden, depth=int(depth))
