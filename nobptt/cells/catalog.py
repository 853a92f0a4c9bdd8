"""The built-in cells: importing this module registers each of them (nobptt.cells.registry)."""
from __future__ import annotations

from nobptt.cells import gru, influence, lstm, plstm, rnn  # noqa: F401  (imported to register)
