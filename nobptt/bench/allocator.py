"""``nobptt bench allocator``: page faults per training-like update with and without
``train.keep_freed_memory`` (nobptt/train/allocator.py; docs/bench.md).

The claim measured: an update that allocates its activations fresh and frees them all afterwards
faults its pages in again every time under glibc's defaults, while with keep_freed_memory the
first update grows the heap and later ones reuse it. Page-fault counts depend on the heap's layout
and on glibc's adaptive mmap threshold, so they vary from one process to the next: that is why
this is a benchmark (one fresh process per repeat, every value printed) and not a test; the test
(tests/test_allocator.py) asserts the mechanism instead.
"""
from __future__ import annotations

import statistics
import subprocess
import sys

# Runs in a fresh process, so that nothing earlier in this one has shaped the heap.
UPDATES = """
import resource, sys, torch
from nobptt.train.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()

def one_update():
    # activations of growing size kept alive together, then all freed, as in a one-graph update
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    kept = [torch.ones(64, m, 64) for m in range(32, 544, 32)]  # 0.5 to 8.5 MiB each, 68 MiB
    pages = sum(t.numel() * 4 for t in kept) // 4096
    del kept
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / pages

print(" ".join(f"{one_update():.3f}" for _ in range(int(sys.argv[2]))))
"""


def fault_fractions(mode: str, updates: int = 6) -> list[float]:
    """Page faults per page touched in each of `updates` simulated updates, in a fresh process.
    mode: "keep" (keep_freed_memory on) or "default" (glibc's defaults)."""
    out = subprocess.run([sys.executable, "-c", UPDATES, mode, str(updates)],
                         capture_output=True, text=True, check=True)
    return [float(v) for v in out.stdout.split()]


def measure(repeats: int = 5, updates: int = 6) -> dict[str, list[list[float]]]:
    """Fault fractions for both modes, one fresh process per repeat."""
    return {mode: [fault_fractions(mode, updates) for _ in range(repeats)] for mode in ("default", "keep")}


def format_measurement(result: dict[str, list[list[float]]]) -> str:
    """One line per process, then per mode the median fraction of the updates after the first."""
    lines = ["page faults per page touched, update 1..N, one fresh process per line:"]
    for mode, runs in result.items():
        for values in runs:
            lines.append(f"  {mode:7s} " + " ".join(f"{v:.3f}" for v in values))
    for mode, runs in result.items():
        later = [v for values in runs for v in values[1:]]
        lines.append(f"{mode}: median over updates 2..N {statistics.median(later):.3f}, max {max(later):.3f}")
    return "\n".join(lines)
