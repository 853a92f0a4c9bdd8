"""``nobptt bench memory``: training memory of every learner against sequence length T and size.

Each configuration runs in a fresh subprocess on synthetic ssMNIST-shaped input (784-d,
10 classes), so no data files are needed. Reported per configuration:

1. ``saved_bytes``: the most bytes autograd held saved for backward in any one update
   (activation memory; parameters excluded);
2. ``persistent_bytes``: parameters + optimizer state + the learner's carried state, exactly;
3. ``peak_rss_above_idle_bytes``: the process's resident high-water mark above its level once the
   learner and optimizer were built (CPU), and ``cuda_peak_bytes`` on a GPU.

Which learners, and how their options depend on T and size: ``nobptt.bench.variants``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import torch

from nobptt.bench.meters import SavedTensorMeter, peak_rss_above, peak_rss_bytes, reset_peak_rss, tensor_bytes
from nobptt.bench.runner import PINNED_MALLOC, run_all
from nobptt.bench.variants import CLASSES, INPUT_DIM, MAX_T, resolve, sizes
from nobptt.learners.online.base import OnlineLearner
from nobptt.learners.registry import build_learner, get_learner_spec
from nobptt.tasks.base import Batch


def random_batches(batch_size: int, device: str, seed: int):
    """An endless stream of random ssMNIST-shaped batches (input, label, next input, next label)."""
    gen = torch.Generator().manual_seed(seed)
    draw = lambda: (torch.randn(batch_size, INPUT_DIM, generator=gen).to(device),  # noqa: E731
                    torch.randint(0, CLASSES, (batch_size,), generator=gen).to(device))
    x, label = draw()
    while True:
        nx, nl = draw()
        yield Batch(x, label, nx, nl)
        x, label = nx, nl


def measure(name: str, T: int, batch_size: int, device: str = "cpu", seed: int = 0,
            scale: float | None = None, hidden: int | None = None) -> dict[str, Any]:
    """Train ``name`` for T steps on random input; return the memory figures (run in a fresh process)."""
    # as training does by default (train.flush_denormal): a long backward pass otherwise slows
    # many-fold on denormal floats, which would time the CPU's slow path, not the learner
    flushed = torch.set_flush_denormal(True)
    try:
        return {**_train_one_sequence(name, T, batch_size, device, seed, scale, hidden), "flush_denormal": flushed}
    finally:
        torch.set_flush_denormal(False)  # a fresh process's mode, for in-process callers (tests)


def _train_one_sequence(name: str, T: int, batch_size: int, device: str, seed: int,
                        scale: float | None, hidden: int | None) -> dict[str, Any]:
    from nobptt.train.clipping import Clipper
    from nobptt.train.optim import OptimConfig, make_optimizer

    torch.manual_seed(seed)
    learner_name, options = resolve(name, T, scale, hidden)
    learner = build_learner(learner_name, options, INPUT_DIM, CLASSES).to(device)
    optim = OptimConfig(**get_learner_spec(learner_name).optim)  # the learner's own [optim] defaults
    optimizer, clipper = make_optimizer(learner, optim), Clipper(optim, learner).to(device)
    state = learner.initial_state(batch_size, device)
    batches = random_batches(batch_size, device, seed)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    reset_peak_rss()
    idle = peak_rss_bytes()
    started = time.perf_counter()
    meter = SavedTensorMeter(exclude=learner)
    if isinstance(learner, OnlineLearner):  # their torch.func Jacobians refuse saved-tensor hooks
        learner.propagate = meter.paused(learner.propagate)  # type: ignore[method-assign]
        learner.cell_gradient = meter.paused(learner.cell_gradient)  # type: ignore[method-assign]
    with meter:
        for _ in range(T):
            state, out = learner.learn(state, next(batches))
            if out.update:
                clipper.clip()  # as the trainer does
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                meter.reset()
    row = {"learner": name, "T": T, "batch_size": batch_size, "scale": scale, "seed": seed,
           "options": json.dumps(options),
           "parameters": sum(p.numel() for p in learner.parameters()),
           "saved_bytes": meter.peak,
           "persistent_bytes": tensor_bytes(learner.state_dict(), optimizer.state_dict()["state"], state),
           **trace_figures(learner, state, batch_size),
           "peak_rss_above_idle_bytes": peak_rss_above(idle),
           "seconds_per_sequence": round(time.perf_counter() - started, 3), "device": device}
    if device.startswith("cuda"):
        row["cuda_peak_bytes"] = torch.cuda.max_memory_allocated()
    return row


def trace_figures(learner: torch.nn.Module, state: Any, batch_size: int) -> dict[str, int | None]:
    """An online learner's traces as held (bytes of their storages) and as its method's formula says
    (``OnlineLearner.trace_formula`` entries per stream x B x the element size); {} for other learners."""
    if not isinstance(learner, OnlineLearner):
        return {}
    entries = learner.trace_formula()
    itemsize = torch.empty((), dtype=learner._dtype).element_size()
    return {"trace_bytes": tensor_bytes(state["traces"]),
            "trace_formula_bytes": None if entries is None else batch_size * entries * itemsize}


def sweep(names: list[str], lengths: list[int], batch_size: int, device: str, out_csv: Path,
          scales: list[float | None] = (None,), echo: Callable[[str], None] = print,
          hiddens: list[int | None] = (None,)) -> list[dict[str, Any]]:
    """Every (learner, size, T) in a fresh process; rows to ``out_csv``. Sizes: ``hiddens`` for the
    learners with a hidden size, else ``scales`` (nobptt.bench.variants.sizes)."""
    configs = [{"name": n, "T": T, "batch_size": batch_size, "scale": s, "hidden": h}
               for n in names for s, h in sizes(n, list(scales), list(hiddens))
               for T in lengths if T <= MAX_T.get(n, T)]
    for n in names:
        for T in lengths:
            if T > MAX_T.get(n, T):
                echo(f"{n}: T={T} skipped, beyond its MAX_T={MAX_T[n]} (nobptt/bench/variants.py)")
    return run_all("memory.measure", configs, device, out_csv, echo, env=PINNED_MALLOC)
