"""The built-in cells: importing this module registers each of them (nobptt.cells.registry)."""
from __future__ import annotations

from nobptt.cells import gru, hyper, influence, lstm, plstm, rhn, rnn  # noqa: F401  (imported to register)
