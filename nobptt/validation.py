"""Range checks for the config dataclasses, run in their ``__post_init__``.

A config class names its fields by rule (``check_ranges(self, positive="batch_size steps", ...)``);
a value out of range raises :class:`FieldError` (a ConfigError) carrying the field, which
``nobptt.config.resolve`` reports as a ConfigError naming ``section.field``, before any run folder
exists. Every float field of a config is also refused when it is NaN or infinite (in ``resolve``).
"""
from __future__ import annotations

import math
from typing import Any, Callable

from nobptt.errors import ConfigError

RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "positive": (lambda v: v > 0, "must be > 0"),
    "non_negative": (lambda v: v >= 0, "must be >= 0"),
    "unit": (lambda v: 0 <= v <= 1, "must be in [0, 1]"),
    "open_unit": (lambda v: 0 <= v < 1, "must be in [0, 1)"),
}


class FieldError(ConfigError):
    """A config field whose value is out of range: ``field``, ``value`` and what it ``must`` be
    (a ConfigError, hence a ValueError, also where a config class is built directly)."""

    def __init__(self, field: str, value: Any, must: str) -> None:
        super().__init__(f"{field}={value!r} {must}")
        self.field, self.value, self.must = field, value, must


def check_ranges(config: Any, **rules: str) -> None:
    """Raise FieldError for the first field out of range: ``rules`` maps a rule of :data:`RULES`
    to the space-separated names of the fields it applies to."""
    for rule, names in rules.items():
        ok, must = RULES[rule]
        for name in names.split():
            value = getattr(config, name)
            if isinstance(value, float) and not math.isfinite(value):
                raise FieldError(name, value, "must be a finite number")
            if not ok(value):
                raise FieldError(name, value, must)
