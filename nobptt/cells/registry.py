"""Registry of cells: a name maps to a class built as ``Cls(input_size, hidden)``.

Like the learner registry, this module imports no cell; ``nobptt.cells.catalog`` imports the
built-ins on first lookup, so a cell module may import this one without a cycle.
"""
from __future__ import annotations

import importlib
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
    the LSTM's state is 2 x hidden)."""
    names = cell_names()
    if name not in _CELLS:
        raise ConfigError(f"model.cell={name!r} is not a registered cell; choose one of {names}")
    return _CELLS[name](input_size, hidden)
