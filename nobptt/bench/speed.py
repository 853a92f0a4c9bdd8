"""``nobptt bench speed``: training and inference throughput, set against the machine's matmul rate.

Per configuration, in a fresh process: the float32 matrix-multiply rate of the device is measured
first (the physical limit the learners' GEMMs run against, at the precision they use), then the
learner runs ``steps`` warm-up steps, ``steps`` timed training steps (learn + optimizer update),
``steps`` inference warm-up steps, ``steps`` timed inference steps, and the same two passes again under
``torch.utils.flop_counter.FlopCounterMode`` to count the floating-point work per step. The
count covers the matrix products (mm/addmm/bmm and the sparse products' embedding_bag), not
elementwise ops, so ``*_matmul_fraction`` = counted FLOP/s / measured matmul FLOP/s reads as the
share of the machine's GEMM limit the learner reaches. ``steps`` should be a multiple of every
BPTT window benchmarked (60 covers 1, 10, 30), so a window's backward falls inside each pass.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch.utils.flop_counter import FlopCounterMode

from nobptt.bench.memory import random_batches
from nobptt.bench.meters import peak_rss_above, peak_rss_bytes, reset_peak_rss, tensor_bytes
from nobptt.bench.runner import run_all
from nobptt.bench.variants import CLASSES, INPUT_DIM, resolve, sizes
from nobptt.learners.base import Learner
from nobptt.learners.registry import build_learner, get_learner_spec
from nobptt.tasks.base import Batch


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def matmul_rate(device: str, size: int | None = None, repeats: int = 5) -> float:
    """Best FLOP/s of an n x n float32 matmul on ``device`` (n = 2048 on CPU, 8192 on GPU)."""
    n = size or (8192 if device.startswith("cuda") else 2048)
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    best = math.inf
    for _ in range(repeats + 1):  # the first is a warm-up
        _sync(device)
        started = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best


def _embedding_bag_flops(weight, indices, *args, out_shape=None, **kwargs) -> int:
    return 2 * math.prod(indices) * weight[1]  # one multiply-add per gathered row entry


def _train_pass(learner: Learner, optimizer, state, batches: Iterator[Batch], steps: int, clipper=None):
    for _ in range(steps):
        state, out = learner.learn(state, next(batches))
        if out.update:
            if clipper is not None:
                clipper.clip()  # as the trainer does
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return state


def _infer_pass(learner: Learner, state, batches: Iterator[Batch], steps: int):
    with torch.no_grad():
        for _ in range(steps):
            state, _ = learner.infer(state, next(batches))
    return state


def _timed(device: str, run: Callable[[], Any]) -> tuple[float, Any]:
    _sync(device)
    started = time.perf_counter()
    result = run()
    _sync(device)
    return time.perf_counter() - started, result


class _NoModuleTracking:
    """Stands in for FlopCounterMode's module tracker, whose hooks on module inputs fail on a
    leaf made inside a backward pass (SAB's reference path: "Expected gradient function to be
    set"); only the total is read here, which needs no per-module split."""

    parents = ("Global",)

    def __enter__(self) -> "_NoModuleTracking":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def _counted(run: Callable[[], Any]) -> tuple[int, Any]:
    counter = FlopCounterMode(display=False,
                              custom_mapping={torch.ops.aten._embedding_bag: _embedding_bag_flops})
    counter.mod_tracker = _NoModuleTracking()
    with counter:
        result = run()
    return counter.get_total_flops(), result


def measure_speed(name: str, batch_size: int, steps: int = 60, device: str = "cpu", seed: int = 0,
                  scale: float | None = None, hidden: int | None = None) -> dict[str, Any]:
    """Throughput and counted FLOPs of ``name`` (run in a fresh process), denormals flushed as
    training and the memory bench flush them (measured: SAB's reference path on this random input
    ran 19 steps/s with them kept)."""
    flushed = torch.set_flush_denormal(True)
    try:
        return {**_measure_speed(name, batch_size, steps, device, seed, scale, hidden),
                "flush_denormal": str(flushed).lower()}
    finally:
        torch.set_flush_denormal(False)  # a fresh process's mode, for in-process callers (tests)


def _measure_speed(name: str, batch_size: int, steps: int, device: str, seed: int, scale: float | None,
                   hidden: int | None) -> dict[str, Any]:
    from nobptt.train.clipping import Clipper
    from nobptt.train.optim import OptimConfig, make_optimizer

    torch.manual_seed(seed)
    peak = matmul_rate(device)
    learner_name, options = resolve(name, steps, scale, hidden)
    learner = build_learner(learner_name, options, INPUT_DIM, CLASSES).to(device)
    optim = OptimConfig(**get_learner_spec(learner_name).optim)  # the learner's own [optim] defaults
    optimizer, clipper = make_optimizer(learner, optim), Clipper(optim, learner).to(device)
    batches = random_batches(batch_size, device, seed)
    state = _train_pass(learner, optimizer, learner.initial_state(batch_size, device), batches, steps, clipper)
    train_s, state = _timed(device, lambda: _train_pass(learner, optimizer, state, batches, steps, clipper))
    state = _infer_pass(learner, state, batches, steps)  # warm-up: a compiled step (model.compile) is traced again under no_grad
    infer_s, state = _timed(device, lambda: _infer_pass(learner, state, batches, steps))
    train_flops, state = _counted(lambda: _train_pass(learner, optimizer, state, batches, steps, clipper))
    infer_flops, state = _counted(lambda: _infer_pass(learner, state, batches, steps))
    row: dict[str, Any] = {"learner": name, "batch_size": batch_size, "steps": steps, "scale": scale,
                           "seed": seed, "options": json.dumps(options), "device": device,
                           "parameters": sum(p.numel() for p in learner.parameters()),
                           "matmul_flops_per_s": round(peak)}
    for phase, seconds, flops in (("train", train_s, train_flops), ("infer", infer_s, infer_flops)):
        row[f"{phase}_steps_per_s"] = round(steps / seconds, 3)
        row[f"{phase}_samples_per_s"] = round(steps * batch_size / seconds, 1)
        row[f"{phase}_flops_per_step"] = flops // steps
        row[f"{phase}_matmul_fraction"] = round(flops / seconds / peak, 4)
    return row


def measure_experiment_speed(name: str, experiment: str, overrides: list[str], steps: int, device: str = "cpu",
                             seed: int = 0) -> dict[str, Any]:
    """Throughput of experiment ``experiment`` with ``overrides`` (one of a comparison's learners,
    named ``name``) on its own task's training stream, at its own thread count (``train.threads``,
    as its runs): the idle-machine rate beside the time a run measures on a shared one
    (nobptt.records.costs). Run in a fresh process."""
    from nobptt import config as cfg
    from nobptt.run import build_model, build_stream
    from nobptt.train.clipping import Clipper
    from nobptt.train.optim import OptimConfig, make_optimizer

    _, sections = cfg.load_experiment(experiment)
    config = cfg.resolve(cfg.apply_overrides(sections, [*overrides, f"train.seed={seed}", f"train.device={device}"]))
    if config["train"].get("threads"):
        torch.set_num_threads(config["train"]["threads"])
    # as the experiment's runs (nobptt.run): with denormals kept, a long sequence's gradients can
    # run several times slower (docs/runs.md#speed-settings)
    flush = bool(config["train"].get("flush_denormal", True))
    torch.set_flush_denormal(flush)
    torch.manual_seed(seed)
    peak = matmul_rate(device)
    stream = build_stream(config, "train", device)
    learner = build_model(config, stream).to(device)
    optim = OptimConfig(**config["optim"])
    optimizer, clipper = make_optimizer(learner, optim), Clipper(optim, learner).to(device)
    batches = iter(stream.next_batch, None)
    reset_peak_rss()  # training memory: the high-water mark of the training passes above the built model
    idle = peak_rss_bytes()
    state = _train_pass(learner, optimizer, learner.initial_state(stream.batch_size, device), batches, steps, clipper)
    train_s, state = _timed(device, lambda: _train_pass(learner, optimizer, state, batches, steps, clipper))
    train_rss = peak_rss_above(idle)
    state = _infer_pass(learner, state, batches, steps)  # warm-up: a compiled step (model.compile) is traced again under no_grad
    infer_s, state = _timed(device, lambda: _infer_pass(learner, state, batches, steps))
    train_flops, state = _counted(lambda: _train_pass(learner, optimizer, state, batches, steps, clipper))
    infer_flops, state = _counted(lambda: _infer_pass(learner, state, batches, steps))
    row: dict[str, Any] = {"learner": name, "task": config["task"]["name"], "batch_size": stream.batch_size,
                           "steps": steps, "seed": seed, "device": device,
                           "options": json.dumps({"experiment": experiment, "overrides": overrides,
                                                  "threads": torch.get_num_threads()}),
                           "parameters": sum(p.numel() for p in learner.parameters()),
                           "matmul_flops_per_s": round(peak), "flush_denormal": str(flush).lower(),
                           # parameters + optimizer state + carried state, exactly; and the process's
                           # resident high-water mark over the training passes (allocator-dependent)
                           "persistent_bytes": tensor_bytes(learner.state_dict(), optimizer.state_dict()["state"], state),
                           "peak_rss_above_idle_bytes": train_rss}
    for phase, seconds, flops in (("train", train_s, train_flops), ("infer", infer_s, infer_flops)):
        row[f"{phase}_steps_per_s"] = round(steps / seconds, 3)
        row[f"{phase}_samples_per_s"] = round(steps * stream.batch_size / seconds, 1)
        row[f"{phase}_flops_per_step"] = flops // steps
        row[f"{phase}_matmul_fraction"] = round(flops / seconds / peak, 4)
    return row


def parse_variant(text: str) -> tuple[str, list[str]]:
    """``"NAME=SECTION.KEY=VALUE;SECTION.KEY=VALUE"`` -> (NAME, overrides); a bare NAME has none."""
    name, _, rest = text.partition("=")
    if not name.strip():
        raise ValueError(f"--variant {text!r}: give NAME or NAME=section.key=value;section.key=value")
    return name.strip(), [o.strip() for o in rest.split(";") if o.strip()]


def sweep_experiment(experiments: list[str], variants: list[str], steps: int, device: str, out_csv: Path,
                     echo: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Every variant of the experiment (or, without variants, every experiment as it is, each row
    named after it) in a fresh process; rows to ``out_csv``."""
    configs = []
    for experiment in experiments:
        for text in variants or [experiment]:
            name, overrides = parse_variant(text)
            configs.append({"name": name, "experiment": experiment, "overrides": overrides, "steps": steps})
    return run_all("speed.measure_experiment_speed", configs, device, out_csv, echo)


def sweep(names: list[str], batch_size: int, steps: int, device: str, out_csv: Path,
          scales: list[float | None] = (None,), echo: Callable[[str], None] = print,
          hiddens: list[int | None] = (None,)) -> list[dict[str, Any]]:
    """Every (learner, size) in a fresh process; rows to ``out_csv`` (sizes as in memory.sweep)."""
    configs = [{"name": n, "batch_size": batch_size, "steps": steps, "scale": s, "hidden": h}
               for n in names for s, h in sizes(n, list(scales), list(hiddens))]
    return run_all("speed.measure_speed", configs, device, out_csv, echo)
