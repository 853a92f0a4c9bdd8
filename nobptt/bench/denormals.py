"""``nobptt bench denormals``: what flushing denormal floats (train.flush_denormal) does to full
BPTT's speed, recorded as schema-1 measurement records (docs/results.md) with the command, commit,
torch and hardware, in reports/denormals.json (``--out results/denormals.json`` to update the
tracked one). About 3 min on a 2-core CPU; one thread per measurement (docs/bench.md).
Two measurements, each in a fresh process with flushing on and off:
  - training: 10 updates of full BPTT on adding at T = 400 (`nobptt train adding_sab`, seed 1,
    the LSTM baseline's overrides), its wall time and final held-out MSE;
  - bench: one sequence of 10^4 steps of the full-BPTT LSTM in `nobptt bench memory`'s harness.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nobptt.environment import environment
from nobptt.records.build import denormal_records
from nobptt.records.io import write_file
from nobptt.records.provenance import writing_provenance

TRAIN = ["adding_sab", "--seed", "1", "--set", "task.T=400", "--set", "train.steps=4000", "--set", "train.eval_every=40000",
         "--set", "train.checkpoint_every=40000", "--set", "train.epoch_steps=4000", "--set", "train.progress=false",
         "--set", "model.attention=none", "--set", "model.k_trunc=0"]
BENCH = ("import sys, torch; from nobptt.bench.memory import _train_one_sequence; "
         "torch.set_flush_denormal(sys.argv[1] == 'true'); "
         "print(_train_one_sequence('sab_lstm_bptt', 10000, 16, 'cpu', 0, None)['seconds_per_sequence'])")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def train(flush: str) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nobptt", "train", *TRAIN, "--set", f"train.flush_denormal={flush}",
                        "--run-dir", f"{folder}/run"], env=ENV, check=True, capture_output=True)
        seconds = time.perf_counter() - started
        last = json.loads(Path(f"{folder}/run/metrics.jsonl").read_text().splitlines()[-1])
    return {"flush_denormal": flush == "true", "wall_time_s": round(seconds, 2), "heldout_mse": last["heldout_mse"]}


def bench(flush: str) -> dict:
    out = subprocess.run([sys.executable, "-c", BENCH, flush], env=ENV, check=True, capture_output=True, text=True)
    return {"flush_denormal": flush == "true", "seconds_per_sequence": float(out.stdout.split()[-1])}


def record(out: Path, allow_dirty: bool, command: str = "nobptt bench denormals") -> dict:
    writing = writing_provenance(out.parent, out.stem, allow_dirty)  # refused before 3 minutes of work
    started = time.perf_counter()
    measured = {"command": command, "train_command": "nobptt train " + " ".join(TRAIN),
                "training_10_updates": [train(f) for f in ("false", "true")],
                "bench_lstm_bptt_T10000": [bench(f) for f in ("false", "true")],
                **environment("cpu"), "commit": writing["commit"]}
    measured["hardware"]["torch_threads"] = 1
    measured["wall_time_s"] = round(time.perf_counter() - started, 1)
    records = denormal_records(measured)
    for r in records:
        r["runs"][0]["training"].update(clean=writing["clean"], diff=writing["diff"])
    write_file(out, {"schema": 1, "name": out.stem, "note": "", "records": records})
    return measured
