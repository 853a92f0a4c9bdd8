"""Measured memory and speed of every registered learner (issue 3)."""
