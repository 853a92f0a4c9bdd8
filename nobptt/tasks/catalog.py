"""The built-in tasks: importing this module registers each of them (nobptt.tasks.registry)."""
from __future__ import annotations

from nobptt.tasks import add, bouncing, episodes, freq, influence, mackey_glass, narma, ptb, ssmnist  # noqa: F401  (imported to register)
