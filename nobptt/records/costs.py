"""What a run cost, measured from its own folder: training seconds per time step and the bytes of
the state the learner carries between steps (docs/results.md#costs).

``nobptt eval --out`` stores both in the run's entry of the record (``costs``), so a comparison table
(e.g. docs/online.md's) shows accuracy beside time per update and persistent memory, each measured
on the run that produced the accuracy rather than in a separate benchmark.

* Seconds per step: the median over the metrics log's consecutive rows of (wall time / steps)
  between them, skipping every interval that ends in a held-out evaluation (its row has
  ``heldout_*`` keys), so evaluations and the checkpoints written with them are not counted. The
  median ignores the first interval's warm-up and a machine's passing load better than a mean.
* State bytes: every tensor of the learner's carried state (``learner_state``) in the run's latest
  checkpoint: the recurrent state and whatever else the method keeps from step to step (RTRL's
  influence matrix, UORO's rank-one pair, e-prop's eligibility traces, truncated BPTT's open
  window). It is a measurement of one moment, the checkpoint's; a method whose memory grows within a
  window (BPTT) is better read in ``nobptt bench memory``, whose ``saved_bytes`` is its graph.
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any


def seconds_per_step(rows: list[dict[str, Any]]) -> float | None:
    """Median training seconds per step between metrics rows, held-out evaluations excluded."""
    rates = []
    for before, after in zip(rows, rows[1:]):
        if any(k.startswith("heldout") for k in after):
            continue
        steps = after.get("step", 0) - before.get("step", 0)
        seconds = (after.get("wall_time_s") or 0.0) - (before.get("wall_time_s") or 0.0)
        if steps > 0 and seconds > 0:
            rates.append(seconds / steps)
    return statistics.median(rates) if rates else None


def tensor_bytes(value: Any) -> int:
    """Bytes of every tensor in a nest of dicts, lists and tuples."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(tensor_bytes(v) for v in value)
    return 0


def run_costs(run_dir: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"train_s_per_step", "state_bytes"}`` of a run folder (either None where not measurable)."""
    from nobptt.errors import DamagedFileError
    from nobptt.train.checkpoint import load_checkpoint

    state_bytes = None
    try:
        ckpt = load_checkpoint(Path(run_dir) / "checkpoint.pt")
        if "learner_state" in ckpt:
            state_bytes = tensor_bytes(ckpt["learner_state"])
    except (FileNotFoundError, DamagedFileError):
        pass
    per_step = seconds_per_step(rows)
    return {"train_s_per_step": None if per_step is None else round(per_step, 6), "state_bytes": state_bytes}


def steps_per_update(config: dict[str, Any]) -> int | None:
    """Time steps between optimizer updates from a run's config: the online learners'
    ``update_every`` (0: one episode); for a learner registered ``per_episode`` (SAB and its
    baselines) one episode or window (nobptt.records.labels.episode_length); else None (unknown)."""
    from nobptt.learners.registry import learner_specs  # lazily: the learners import torch
    from nobptt.records.labels import episode_length

    model = config.get("model", {})
    every = model.get("update_every")
    if every:
        return int(every)
    # SAB and its baselines update once per sequence (their registry entry says so); P-TNCN and
    # the other learners without update_every: unknown here
    spec = learner_specs().get(model.get("name"))
    if every == 0 or (spec is not None and spec.per_episode):
        length = episode_length(config)
        return length if length > 1 else None  # an episode of unknown length (per-sentence PTB): unknown
    return None
