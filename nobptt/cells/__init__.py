"""Recurrent cells as pure step functions, shared by every online learner (docs/online.md#cells)."""
