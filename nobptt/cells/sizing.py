"""Matched sizes: the hidden width that gives a cell a parameter count, so that cells are compared
at equal parameters (docs/cells.md#character-ptb-two-protocols)."""
from __future__ import annotations

import torch

from nobptt.cells.registry import build_cell


def cell_parameters(cell: str, input_size: int, hidden: int, outputs: int = 0) -> int:
    """Parameters of ``cell`` with ``hidden`` units, plus a linear readout of its output to
    ``outputs`` values with a bias (0: no readout). Counted on the meta device: nothing allocated."""
    with torch.device("meta"):
        built = build_cell(cell, input_size, hidden)
        count = sum(p.numel() for p in built.parameters())
    return count + (built.output_size * outputs + outputs if outputs else 0)


def matched_hidden(cell: str, input_size: int, parameters: int, outputs: int = 0) -> int:
    """The width whose count (``cell_parameters``) is closest to ``parameters``; counts grow with
    the width, so a bisection finds the last width at or below it, then the nearer of two."""
    low, high = 1, 1
    while cell_parameters(cell, input_size, high, outputs) < parameters:
        low, high = high, 2 * high
    while high - low > 1:
        mid = (low + high) // 2
        if cell_parameters(cell, input_size, mid, outputs) < parameters:
            low = mid
        else:
            high = mid
    return min((low, high), key=lambda h: abs(cell_parameters(cell, input_size, h, outputs) - parameters))
