"""The fault harness: kill a real `nobptt train` process (kill -9) at a chosen point, recover it as
a user would, and compare the run folder with an uninterrupted run's (issue 38).

Used by tests/test_faults.py (a few rounds, in CI) and, outside CI, as the soak:

    PYTHONPATH=. python -m tests.faults --minutes 12 --out results/faults/soak.json

which runs rounds until the time is up, each a fault kind and a kill point drawn from a seeded
generator, and writes a record: per kind, rounds tried, processes killed, runs recovered identical,
what was kept and what was lost (docs/runs.md, "Faults tried"; the table there is generated from the
record by ``python -m tests.faults --update-docs``).

Kinds: the fault points of ``nobptt.train.faults`` (``step``, ``checkpoint``, ``json``,
``metrics``: the process kills itself at the N-th point), and ``external``: a SIGKILL sent from
outside after a random delay, at whatever the process was doing.

Recovery is what docs/runs.md tells a user: ``nobptt train --resume RUN`` when the folder holds a
checkpoint, else the same ``nobptt train --run-dir RUN ...`` again (a folder without a checkpoint is
reused). "Identical": the metrics rows (wall time aside), summary.json (wall time aside), the
config, the list of files, and the latest and previous checkpoints' step, weights, optimizer and
stream state equal the uninterrupted run's.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# the SMALL run of tests/test_cli.py, with an epoch every 25 steps and a checkpoint and an
# evaluation every 50: 150 steps give 6 metrics rows and 3 checkpoints (the last two kept)
STEPS = 150
ARGS = ["--steps", str(STEPS),
        "--set", "optim.lr=2e-3", "--set", "optim.classifier_lr=2e-3", "--set", "model.groups=200",
        "--set", "model.k=24", "--set", "model.classifier_hidden=128", "--set", "task.batch_size=64",
        "--set", "task.eval_batch_size=64", "--set", "train.progress=false", "--set", "train.epoch_steps=25",
        "--set", "train.eval_steps=20", "--set", "train.eval_every=50", "--set", "train.checkpoint_every=50",
        "--set", "train.threads=1"]
# how many times a run of ARGS reaches each fault point (checked by the tests): one per step;
# checkpoints: 3 renames for the first, 6 for the others (the previous one kept too); config.json
# and summary.json; one per metrics row
POINTS = {"step": STEPS, "checkpoint": 3 + 6 + 6, "json": 2, "metrics": 6}
KINDS = (*POINTS, "external")
# the kill points tests/test_faults.py tries in CI (the soak draws the others): the first step, a
# rename inside the second checkpoint (with a previous one to keep) and one inside the last, the
# summary's rename, a torn metrics row after an evaluation
CI_POINTS = {"step": [1, 120], "checkpoint": [5, 13], "json": [2], "metrics": [3]}
CI_ROUNDS = {kind: len(points) for kind, points in CI_POINTS.items()}
WALL = "wall_time_s"
# a process's time limit: generous, as the soak runs niced on a shared machine (a 150-step run that
# takes 5 s alone took over 300 s there)
TIMEOUT = 1800.0


def nobptt(args: list[str], fault: str = "", timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """``python -m nobptt ARGS`` in a fresh process (``fault``: its NOBPTT_FAULT)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NOBPTT_FAULT", None)
    if fault:
        env["NOBPTT_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "nobptt", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=timeout)


def train_args(run: Path) -> list[str]:
    return ["train", "--run-dir", str(run), *ARGS]


def kill_from_outside(run: Path, delay: float, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """Start the run, SIGKILL it after ``delay`` seconds (if still running)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NOBPTT_FAULT", None)
    proc = subprocess.Popen([sys.executable, "-m", "nobptt", *train_args(run)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _checkpoint_state(path: Path) -> dict[str, Any] | None:
    import torch

    if not path.exists():
        return None
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    return {k: ckpt[k] for k in ("step", "learner", "optimizer", "stream", "clipping", "learner_state",
                                 "best", "loss_history")}


def _row(line: bytes) -> dict[str, Any]:
    try:
        return json.loads(line)
    except ValueError:  # a torn or damaged line differs from every row
        return {"unreadable line": line.decode("latin-1")}


def fingerprint(run: Path) -> dict[str, Any]:
    """What must not differ between a recovered run and an uninterrupted one."""
    rows = [_row(line) for line in (run / "metrics.jsonl").read_bytes().splitlines()] \
        if (run / "metrics.jsonl").exists() else None
    summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").exists() else None
    config = json.loads((run / "config.json").read_text())["config"] if (run / "config.json").exists() else None
    return {"files": sorted(p.name for p in run.iterdir() if p.name != ".lock"),
            "rows": [{k: v for k, v in r.items() if k != WALL} for r in rows] if rows is not None else None,
            "summary": {k: v for k, v in summary.items() if k != WALL} if summary is not None else None,
            "config": config,
            "checkpoint.pt": _checkpoint_state(run / "checkpoint.pt"),
            "checkpoint.prev.pt": _checkpoint_state(run / "checkpoint.prev.pt")}


def _equal(a: Any, b: Any) -> bool:
    import numpy as np
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype \
            and a.shape == b.shape and bool(torch.equal(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.array_equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


def differences(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """The parts of ``got`` that differ from ``want`` (fingerprints); [] when identical."""
    return [part for part in want if not _equal(got[part], want[part])]


def kept(run: Path) -> dict[str, Any]:
    """What a killed run left: the checkpoint's step, the whole metrics rows, a torn last line, stray
    temporary files."""
    import warnings

    from nobptt.train.metrics import MetricsLog

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            rows = len(MetricsLog(run / "metrics.jsonl").rows())
        except Exception as err:  # noqa: BLE001  (what a user would see is recorded, not raised)
            rows = f"unreadable: {err}"
    step = None
    if (run / "checkpoint.pt").exists():
        try:
            from nobptt.train.checkpoint import load_checkpoint

            step = load_checkpoint(run / "checkpoint.pt")["step"]
        except Exception as err:  # noqa: BLE001
            step = f"unreadable: {type(err).__name__}"
    return {"checkpoint_step": step, "rows": rows, "torn_line": bool(caught),
            "temporary_files": len(list(run.glob("*.tmp"))), "summary": (run / "summary.json").exists()}


def recover(run: Path, tries: int = 3) -> list[str]:
    """Bring a killed run to its end as docs/runs.md says; returns the commands' outcomes."""
    done = []
    if (run / "summary.json").exists():  # killed after it had finished (an external kill come late)
        return ["finished before the kill: nothing to recover"]
    for _ in range(tries):
        resume = (run / "checkpoint.pt").exists()
        proc = nobptt(["train", "--resume", str(run)] if resume else train_args(run))
        done.append(f"{'resume' if resume else 'restart'}: exit {proc.returncode}"
                    + (f" ({_last_line(proc.stderr)})" if proc.returncode else ""))
        if proc.returncode == 0:
            break
    return done


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def kill_round(kind: str, n: int | float, work: Path, want: dict[str, Any]) -> dict[str, Any]:
    """One round: a run killed at point ``n`` of ``kind`` (external: after ``n`` seconds), recovered,
    compared with the uninterrupted run's fingerprint ``want``."""
    run = work / f"{kind}-{n}"
    shutil.rmtree(run, ignore_errors=True)
    if kind == "external":
        proc = kill_from_outside(run, float(n))
    else:
        proc = nobptt(train_args(run), fault=f"{kind}:{n}")
    killed = proc.returncode == -signal.SIGKILL
    outcome = {"kind": kind, "at": n, "killed": killed, "exit": proc.returncode,
               "kept": kept(run) if run.exists() else {}}
    if proc.returncode not in (0, -signal.SIGKILL):
        outcome["error"] = _last_line(proc.stderr)
    outcome["recovery"] = recover(run) if killed else []
    outcome["lost"] = differences(fingerprint(run), want) if run.exists() else ["the run folder"]
    outcome["identical"] = not outcome["lost"]
    shutil.rmtree(run, ignore_errors=True)
    return outcome


def reference(work: Path) -> dict[str, Any]:
    """The uninterrupted run's fingerprint (and its wall time, for external kill delays)."""
    run = work / "uninterrupted"
    shutil.rmtree(run, ignore_errors=True)
    started = time.perf_counter()
    proc = nobptt(train_args(run))
    if proc.returncode != 0:
        raise RuntimeError(f"the uninterrupted run failed: {proc.stderr[-2000:]}")
    return {"seconds": time.perf_counter() - started, "fingerprint": fingerprint(run)}


def summarize(outcomes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per kind: rounds tried, processes killed, recovered identical, what was kept, what was lost."""
    kinds: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        mine = [o for o in outcomes if o["kind"] == kind]
        if not mine:
            continue
        lost = Counter(part for o in mine for part in o["lost"])
        killed = [o for o in mine if o["killed"]]  # an external kill may come after the run ended
        kinds[kind] = {
            "tried": len(mine),
            "killed": len(killed),
            "identical": sum(o["identical"] for o in mine),
            "killed_identical": sum(o["identical"] for o in killed),
            "kept": {  # what the killed runs left that their recovery used
                "finished_before_the_kill": sum(bool(o["kept"].get("summary")) for o in killed),
                "resumed_from_a_checkpoint": sum(isinstance(o["kept"].get("checkpoint_step"), int)
                                                 and not o["kept"].get("summary") for o in killed),
                "restarted_without_one": sum(o["kept"].get("checkpoint_step") is None for o in killed),
                "torn_metrics_line_repaired": sum(bool(o["kept"].get("torn_line")) for o in killed),
                "temporary_files_removed": sum(bool(o["kept"].get("temporary_files")) for o in killed),
            },
            "lost": dict(lost),
            "failures": [o for o in mine if not o["identical"]][:5],
        }
    return kinds


def soak(minutes: float, rounds: int, seed: int, work: Path) -> dict[str, Any]:
    gen = random.Random(seed)
    started = time.perf_counter()
    ref = reference(work)
    outcomes = []
    while len(outcomes) < rounds and time.perf_counter() - started < 60 * minutes:
        kind = KINDS[len(outcomes) % len(KINDS)]
        n = round(gen.uniform(0.4, 1.0) * ref["seconds"], 2) if kind == "external" else gen.randint(1, POINTS[kind])
        outcomes.append(kill_round(kind, n, work, ref["fingerprint"]))
        print(json.dumps({k: outcomes[-1][k] for k in ("kind", "at", "killed", "identical", "lost")}), flush=True)
    return {"seconds_uninterrupted": round(ref["seconds"], 1), "outcomes": outcomes,
            "wall_time_s": round(time.perf_counter() - started, 1)}


# -- the record and the docs table -----------------------------------------------------------------
RECORD = ROOT / "results" / "faults" / "soak.json"
DOC = ROOT / "docs" / "runs.md"
BLOCK = re.compile(r"(<!-- faults: (?P<file>\S+) -->\n)(?P<body>.*?)(<!-- /faults -->)", re.S)
KIND_TEXT = {
    "step": "kill -9 between training steps",
    "checkpoint": "kill -9 inside a checkpoint write (before each of its renames)",
    "json": "kill -9 before config.json or summary.json is renamed in",
    "metrics": "kill -9 halfway through a metrics row",
    "external": "kill -9 from outside at a random time",
}


def table(record: dict[str, Any]) -> str:
    """The docs table of a soak record: one row per fault kind."""
    lines = ["| fault | rounds (CI suite / soak) | soak runs killed | killed runs recovered identical | kept | lost |",
             "|---|---|---|---|---|---|"]
    ci = record.get("ci_rounds", {})
    for kind, s in summarize(record["outcomes"]).items():
        kept_text = ", ".join(f"{name.replace('_', ' ')} ({count})" for name, count in s["kept"].items() if count) or "-"
        lost_text = ", ".join(f"{part} ({count})" for part, count in s["lost"].items()) or "nothing"
        lines.append(f"| {KIND_TEXT[kind]} | {ci.get(kind, 0)} / {s['tried']} | {s['killed']} of {s['tried']} | "
                     f"{s['killed_identical']} of {s['killed']} | {kept_text} | {lost_text} |")
    prov = record["provenance"]
    lines.append("")
    lines.append(f"Soak: `{prov['command']}`, commit {prov['commit'][:12]}, {prov['hardware']['cpu']} "
                 f"({prov['hardware']['cpu_count']} cores, shared), torch {prov['torch']}, "
                 f"{prov['wall_time_s'] / 60:.1f} min, {sum(k['tried'] for k in record['kinds'].values())} rounds.")
    return "\n".join(lines) + "\n"


def update_docs(doc: Path = DOC) -> bool:
    text = doc.read_text()

    def fill(match: re.Match) -> str:
        record = json.loads((ROOT / match["file"]).read_text())
        return match[1] + table(record) + match[4]

    new = BLOCK.sub(fill, text)
    if new != text:
        doc.write_text(new)
    return new != text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=12.0, help="stop starting rounds after this long")
    parser.add_argument("--rounds", type=int, default=10_000, help="at most this many rounds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RECORD))
    parser.add_argument("--update-docs", action="store_true", help="only regenerate docs/runs.md's table")
    args = parser.parse_args(argv)
    if args.update_docs:
        print("updated" if update_docs() else "unchanged", DOC)
        return 0
    from nobptt.environment import environment

    env = environment("cpu")  # taken first: the tree the soak ran from
    command = "PYTHONPATH=. python -m tests.faults " + " ".join(argv if argv is not None else sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="nobptt-faults-") as work:
        result = soak(args.minutes, args.rounds, args.seed, Path(work))
    record = {"schema": "faults-1", "ci_rounds": CI_ROUNDS, "kinds": summarize(result["outcomes"]),
              "seconds_uninterrupted": result["seconds_uninterrupted"],
              "provenance": {"command": command, "commit": env["commit"], "clean": env["clean"],
                             "hardware": env["hardware"], "torch": env["torch"], "python": env["python"],
                             "wall_time_s": result["wall_time_s"], "seed": args.seed},
              "outcomes": result["outcomes"]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0 if all(s["identical"] == s["tried"] for s in record["kinds"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
