"""Run benchmark configurations in fresh processes and write their rows as CSV."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from nobptt.environment import environment
from nobptt.records.build import bench_row
from nobptt.records.io import bench_csv_text, write_text
from nobptt.records.schema import BENCH_HEADER


# glibc's mmap threshold, pinned for memory measurements so that freed large blocks go back to
# the system at once: with its default dynamic threshold they stay in the heap and the resident
# high-water mark drifts by several MB with fragmentation, unrelated to what the learner holds
# (measured: bRSM's peak above idle went 67 -> 75 MB from T=100 to 10^4 with it, flat without).
# Not for speed runs: every large allocation then costs an mmap and page faults (~1.5x slower).
PINNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "131072"}


def run_isolated(function: str, env: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
    """Call ``nobptt.bench.<function>(**kwargs)`` in a fresh Python process (peak resident memory
    only ever goes up within a process), with ``env`` added to its environment; return its row."""
    module, func = function.rsplit(".", 1)
    code = (f"import json; from nobptt.bench.{module} import {func}; "
            f"print(json.dumps({func}(**json.loads({json.dumps(json.dumps(kwargs))}))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    if done.returncode != 0:
        reason = done.stderr.strip()[-400:] or f"the process exited with status {done.returncode}"
        # the configuration asked for, as the row's columns; a field without one (hidden) as options
        asked = {k: v for k, v in kwargs.items() if k in BENCH_HEADER or k == "name"}
        other = {k: v for k, v in kwargs.items() if k not in asked and v is not None}
        return {"learner": kwargs.get("name"), **asked, **({"options": json.dumps(other)} if other else {}),
                "error": reason}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_all(function: str, configs: list[dict[str, Any]], device: str, out_csv: Path,
            echo: Callable[[str], None] = print, command: str | None = None,
            env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Run every config isolated; stamp each row with the command, torch, python, device, commit,
    whether the tree was clean, hardware and the configuration's wall time (process start
    included); write the CSV, in the one header of docs/results.md, atomically."""
    machine = environment(device)
    kind = "memory" if function.startswith("memory") else "speed"
    stamp = {"torch": machine["torch"], "python": machine["python"], "commit": machine["commit"],
             "clean": machine["clean"], "hardware": json.dumps(machine["hardware"]),
             "command": command or " ".join(["nobptt", *sys.argv[1:]])}
    rows = []
    for config in configs:
        started = time.perf_counter()
        row = run_isolated(function, env=env, device=device, **config)
        row = bench_row({**row, **stamp, "wall_time_s": round(time.perf_counter() - started, 2)}, kind)
        rows.append(row)
        echo(", ".join(f"{k}={v}" for k, v in row.items() if v not in (None, "")
                       and k not in ("schema", "kind", "hardware", "commit", "clean", "options", "command",
                                     "python", "torch")))
    write_text(out_csv, bench_csv_text(rows))
    return rows
