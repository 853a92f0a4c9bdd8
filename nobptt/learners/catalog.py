"""The built-in learners: importing this module registers each of them (nobptt.learners.registry).

A new learner is one new module with a ``@register_learner`` class, listed here, plus its
experiment file.
"""
from __future__ import annotations

from nobptt.learners import lstm, lstm_lm, rsm, sab  # noqa: F401  (imported to register)
from nobptt.learners import esn  # noqa: F401  (issue 39: echo state network)
from nobptt.learners import ptncn  # noqa: F401  (issue 40: P-TNCN trained by LRA)
from nobptt.learners.online import bptt, eprop, rtrl, snap, uoro  # noqa: F401
