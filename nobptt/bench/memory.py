"""``nobptt bench memory``: training memory of every learner against sequence length T.

Each configuration runs in a fresh subprocess (peak resident memory only ever goes up within a
process) on synthetic ssMNIST-shaped input (784-d, 10 classes), so no data files are needed.
Reported per configuration:

1. ``saved_bytes``: the most bytes autograd held saved for backward in any one update
   (activation memory; parameters excluded);
2. ``persistent_bytes``: parameters + optimizer state + the learner's carried state, exactly;
3. ``peak_rss_above_idle``: the process's resident high-water mark above its level once the
   learner and optimizer were built (CPU), and ``cuda_peak_bytes`` on a GPU.

Which learners and how they depend on T: ``VARIANTS``. A learner registered later is benched with
its default config (``T``-independent) unless a variant says otherwise.
"""
from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from nobptt.bench.meters import SavedTensorMeter, peak_rss_bytes, reset_peak_rss, tensor_bytes
from nobptt.environment import environment
from nobptt.learners.registry import build_learner, learner_specs
from nobptt.tasks.base import Batch

INPUT_DIM, CLASSES = 784, 10
# name -> (learner, options as a function of T): BPTT-family variants whose memory depends on T.
VARIANTS: dict[str, tuple[str, Callable[[int], dict[str, Any]]]] = {
    "lstm_bptt": ("lstm", lambda T: {"k1": T, "k2": T}),  # full BPTT over the whole sequence
    "lstm_tbptt30": ("lstm", lambda T: {"k1": min(30, T), "k2": min(30, T)}),
}


def bench_names() -> list[str]:
    """Every registered learner (with its default config) plus the T-dependent variants."""
    plain = [n for n in sorted(learner_specs()) if n != "lstm"]
    return plain + sorted(VARIANTS)


def resolve_variant(name: str, T: int) -> tuple[str, dict[str, Any]]:
    if name in VARIANTS:
        learner, options = VARIANTS[name]
        return learner, options(T)
    return name, {}


def measure(name: str, T: int, batch_size: int, device: str = "cpu", seed: int = 0) -> dict[str, Any]:
    """Train ``name`` for T steps on random input; return the memory figures (run in a fresh process)."""
    from nobptt.train.trainer import make_optimizer

    torch.manual_seed(seed)
    learner_name, options = resolve_variant(name, T)
    learner = build_learner(learner_name, options, INPUT_DIM, CLASSES).to(device)
    optimizer = make_optimizer(learner)
    state = learner.initial_state(batch_size, device)
    gen = torch.Generator().manual_seed(seed)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    reset_peak_rss()
    idle = peak_rss_bytes()
    started = time.perf_counter()
    meter = SavedTensorMeter(exclude=learner)
    x = torch.randn(batch_size, INPUT_DIM, generator=gen).to(device)
    label = torch.randint(0, CLASSES, (batch_size,), generator=gen).to(device)
    with meter:
        for _ in range(T):
            nx = torch.randn(batch_size, INPUT_DIM, generator=gen).to(device)
            nl = torch.randint(0, CLASSES, (batch_size,), generator=gen).to(device)
            state, out = learner.learn(state, Batch(x, label, nx, nl))
            if out.update:
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                meter.reset()
            x, label = nx, nl
    seconds = time.perf_counter() - started
    row = {"learner": name, "T": T, "batch_size": batch_size, "options": json.dumps(options),
           "parameters": sum(p.numel() for p in learner.parameters()),
           "saved_bytes": meter.peak,
           "persistent_bytes": tensor_bytes(learner.state_dict(), optimizer.state_dict()["state"], state),
           "peak_rss_above_idle": peak_rss_bytes() - idle, "seconds": round(seconds, 3),
           "device": device}
    if device.startswith("cuda"):
        row["cuda_peak_bytes"] = torch.cuda.max_memory_allocated()
    return row


def run_isolated(name: str, T: int, batch_size: int, device: str) -> dict[str, Any]:
    """``measure`` in a fresh Python process, so peaks never leak between configurations."""
    code = ("import json,sys; from nobptt.bench.memory import measure; "
            f"print(json.dumps(measure({name!r}, {T}, {batch_size}, {device!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        return {"learner": name, "T": T, "batch_size": batch_size, "error": done.stderr.strip()[-300:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def sweep(names: list[str], lengths: list[int], batch_size: int, device: str, out_csv: Path,
          echo: Callable[[str], None] = print) -> list[dict[str, Any]]:
    env = environment(device)
    rows = []
    for name in names:
        for T in lengths:
            row = {**run_isolated(name, T, batch_size, device), "torch": env["torch"],
                   "commit": env["commit"], "hardware": json.dumps(env["hardware"])}
            rows.append(row)
            echo(", ".join(f"{k}={v}" for k, v in row.items() if k not in ("hardware", "commit", "options")))
    fields = sorted({k for r in rows for k in r}, key=lambda k: (k not in ("learner", "T"), k))
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with out_csv.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return rows
