"""``nobptt bench profile``: where one training update of an experiment spends its time.

The experiment's own task, model, optimizer and clip (as ``bench speed --experiment``), at its
``train.threads`` and denormal setting; one update as warm-up, then ``updates`` updates under
``torch.profiler``. Each row is one aten operator (or autograd node): its self CPU time per
update, its calls per update and its share of the profiled total, largest first. Self times add up
to the total; the profiler's own overhead per call (a few microseconds) inflates operators that
are called often, so the table says where time goes, not how long an update takes unprofiled
(``bench speed`` measures that). Written as CSV, with a JSON summary beside it.
"""
from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import torch


def _setup(experiment: str, overrides: list[str], device: str, seed: int):
    """(learner, optimizer, clipper, batches, config) for the experiment, the process set up as
    training sets it (threads, denormals)."""
    from nobptt import config as cfg
    from nobptt.run import build_model, build_stream
    from nobptt.train.clipping import Clipper
    from nobptt.train.optim import OptimConfig, make_optimizer

    _, sections = cfg.load_experiment(experiment)
    config = cfg.resolve(cfg.apply_overrides(sections, [*overrides, f"train.seed={seed}", f"train.device={device}"]))
    if config["train"].get("threads"):
        torch.set_num_threads(config["train"]["threads"])
    torch.set_flush_denormal(bool(config["train"].get("flush_denormal", True)))
    torch.manual_seed(seed)
    stream = build_stream(config, "train", device)
    learner = build_model(config, stream).to(device)
    optim = OptimConfig(**config["optim"])
    optimizer, clipper = make_optimizer(learner, optim), Clipper(optim, learner).to(device)
    return learner, optimizer, clipper, iter(stream.next_batch, None), config, stream.batch_size


def _one_update(learner, optimizer, clipper, batches, state):
    """Steps until the learner reports an update; then clip and step, as the trainer does."""
    while True:
        state, out = learner.learn(state, next(batches))
        if out.update:
            clipper.clip()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            return state


def profile_experiment(experiment: str, overrides: list[str], updates: int = 3, device: str = "cpu",
                       seed: int = 0) -> dict[str, Any]:
    """{"summary": {...}, "rows": [{op, self_ms_per_update, calls_per_update, share}, ...]}."""
    from torch.profiler import ProfilerActivity, profile

    learner, optimizer, clipper, batches, config, batch_size = _setup(experiment, overrides, device, seed)
    state = _one_update(learner, optimizer, clipper, batches, learner.initial_state(batch_size, device))
    started = time.perf_counter()
    for _ in range(updates):  # unprofiled, for the time per update beside the table
        state = _one_update(learner, optimizer, clipper, batches, state)
    plain_ms = (time.perf_counter() - started) / updates * 1000
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(updates):
            state = _one_update(learner, optimizer, clipper, batches, state)
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    rows = [{"op": e.key, "self_ms_per_update": round(e.self_cpu_time_total / 1000 / updates, 3),
             "calls_per_update": round(e.count / updates, 1),
             "share": round(e.self_cpu_time_total / total, 4)}
            for e in sorted(events, key=lambda e: -e.self_cpu_time_total)]
    summary = {"experiment": experiment, "overrides": overrides, "updates": updates, "device": device,
               "seed": seed, "threads": torch.get_num_threads(), "batch_size": batch_size,
               "model": config["model"], "ms_per_update_unprofiled": round(plain_ms, 1),
               "ms_per_update_profiled": round(total / 1000 / updates, 1),
               "profiler_events_per_update": round(sum(e.count for e in events) / updates),
               "torch": torch.__version__}
    return {"summary": summary, "rows": rows}


def write_profile(result: dict[str, Any], out_csv: Path) -> Path:
    """The rows as CSV at ``out_csv`` and the summary as JSON beside it; returns the JSON path."""
    from nobptt.records.io import write_text  # atomic: a temporary file, then a rename

    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=["op", "self_ms_per_update", "calls_per_update", "share"])
    writer.writeheader()
    writer.writerows(result["rows"])
    write_text(out_csv, table.getvalue())
    return write_text(out_csv.with_suffix(".json"), json.dumps(result["summary"], indent=1) + "\n")
