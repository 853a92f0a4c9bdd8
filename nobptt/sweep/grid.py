"""A sweep's grid: ``--seeds 0-4`` and ``--grid optim.lr=1e-3,3e-3`` parsed, and every point checked
against the experiment's config before anything runs (docs/sweep.md).

Each value of a grid is checked the way ``nobptt train --set`` checks it (``nobptt.config.resolve``:
unknown keys, wrong types, unknown names and out-of-range values are refused with the valid choices
named), for every combination of the grid, so that a sweep never fails an hour in on its last point.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from nobptt import config as cfg
from nobptt.errors import ConfigError

# keys the sweep sets itself for each point (a grid over them would fight --seeds)
OWN_KEYS = ("train.seed",)
SEEDS = re.compile(r"^\d+(-\d+)?$")


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> [0, 1, 2, 3, 4]; ``"0,2,5"`` and ``"0-2,7"`` too. Refused: empty, a range that
    runs backwards, a seed given twice, anything but non-negative integers."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or not all(parts):
        raise ConfigError(f"--seeds {text!r}: give seeds as 0-4, 0,2,5 or 0-2,7 (non-negative integers)")
    seeds: list[int] = []
    for part in parts:
        if not SEEDS.match(part):
            raise ConfigError(f"--seeds {text!r}: {part!r} is not a seed or a range; give seeds as 0-4, 0,2,5 "
                              f"or 0-2,7 (non-negative integers)")
        first, _, last = part.partition("-")
        lo, hi = int(first), int(last or first)
        if hi < lo:
            raise ConfigError(f"--seeds {text!r}: the range {part!r} runs backwards; write {hi}-{lo}")
        seeds.extend(range(lo, hi + 1))
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ConfigError(f"--seeds {text!r}: seed(s) {repeated} given twice")
    return seeds


@dataclass
class Axis:
    """One ``--grid KEY=V1,V2`` axis: the canonical key (``optim.lr`` for ``model.lr``, as
    ``nobptt train --set`` reads it), the values as typed (for folder names) and as parsed."""

    key: str
    texts: list[str]
    values: list[Any] = field(default_factory=list)


def parse_axis(text: str) -> Axis:
    """``"model.hidden=16,32"`` -> Axis("model.hidden", ["16", "32"], [16, 32]). Values are read as
    ``--set`` reads them (TOML, else a string); a value may not contain a comma."""
    if "=" not in text:
        raise ConfigError(f"--grid {text!r} must look like section.key=value1,value2, e.g. --grid optim.lr=1e-3,3e-3")
    key, _, values = text.partition("=")
    texts = [v.strip() for v in values.split(",")]
    if not values.strip() or not all(texts):
        raise ConfigError(f"--grid {text!r}: {'an empty list' if not values.strip() else 'an empty value in the list'}; "
                          f"give one or more comma-separated values, e.g. --grid {key.strip()}=1e-3,3e-3")
    parsed = [cfg.parse_override(f"{key}={t}") for t in texts]  # refuses a key without a section
    section, name = parsed[0][0], parsed[0][1]
    canonical = f"{section}.{name}"
    if canonical in OWN_KEYS:
        raise ConfigError(f"--grid {text!r}: the seeds are set with --seeds (e.g. --seeds 0-4), not a grid")
    values_parsed = [p[2] for p in parsed]
    repeated = sorted({t for t, v in zip(texts, values_parsed) if values_parsed.count(v) > 1})
    if repeated:
        raise ConfigError(f"--grid {text!r}: value(s) {repeated} given twice (the same point twice)")
    return Axis(canonical, texts, values_parsed)


def parse_grid(texts: list[str]) -> list[Axis]:
    axes = [parse_axis(t) for t in texts]
    keys = [a.key for a in axes]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ConfigError(f"--grid: key(s) {repeated} given in two --grid options; list every value in one, "
                          f"e.g. --grid {repeated[0]}=A,B,C")
    return axes


def combinations(axes: list[Axis]) -> list[list[tuple[Axis, int]]]:
    """Every combination of the axes' values, the first axis slowest (``itertools.product``)."""
    return [list(zip(axes, idx)) for idx in itertools.product(*[range(len(a.values)) for a in axes])]


def check_points(raw: dict[str, dict[str, Any]], sets: list[str], axes: list[Axis], seeds: list[int],
                 experiment: str) -> None:
    """Resolve the config of every combination (and seed) as ``nobptt train`` would, before anything
    runs. An error names the grid value at fault and keeps the config's own message, which lists the
    valid keys, types, names or range."""
    for seed in seeds:  # the base first, so that an error there is not blamed on a grid value
        try:
            cfg.resolve(cfg.apply_overrides(raw, [*sets, f"train.seed={seed}"]))
        except ConfigError as err:
            raise ConfigError(f"sweep of {experiment}: --set / --seeds (seed {seed}): {err}") from None
    for combo in combinations(axes):
        overrides = [f"{axis.key}={axis.texts[i]}" for axis, i in combo]
        for seed in seeds:
            try:
                cfg.resolve(cfg.apply_overrides(raw, [*sets, *overrides, f"train.seed={seed}"]))
            except ConfigError as err:
                bad = _culprit(raw, sets, overrides, seed)
                where = f"--grid value {bad}" if bad else f"--grid combination {' '.join(overrides)}"
                raise ConfigError(f"sweep of {experiment}: {where}: {err}") from None


def _culprit(raw: dict[str, dict[str, Any]], sets: list[str], overrides: list[str], seed: int) -> str | None:
    """The one grid value that, alone on top of --set, is refused (so the message names it)."""
    for override in overrides:
        try:
            cfg.resolve(cfg.apply_overrides(raw, [*sets, override, f"train.seed={seed}"]))
        except ConfigError:
            return override
    return None
