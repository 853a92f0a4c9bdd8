"""What the SAB analyses read from schema-1 records: each run of a record with its curve, and its
time steps counted as optimizer updates (one per episode of copying / adding, one per window)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from nobptt.records.labels import eval_length, sab_description, updates

__all__ = ["eval_length", "runs_with_curves", "sab_description", "updates"]


def runs_with_curves(record: dict[str, Any]) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(run, its curve rows) of a record: the writers store one curve per run, in the runs' order
    (``curves`` is keyed seed0, seed1, ...; a repeated seed gets seed0-2)."""
    curves = list((record.get("curves") or {}).values())
    for i, run in enumerate(record["runs"]):
        yield run, (curves[i] if i < len(curves) else [])
