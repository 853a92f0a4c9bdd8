"""A sweep's plan: its points (one ordinary run folder each) under one sweep folder, the plan file
that lets a rerun or ``nobptt sweep --collect`` find them, and each point's state.

The sweep folder (docs/sweep.md)::

    SWEEP/sweep.json           the plan: experiment, --set, grid, seeds, points, first command
    SWEEP/runs/POINT/          one run folder per point, exactly what `nobptt train --run-dir` makes
    SWEEP/logs/POINT.log       what each point's process printed (appended across reruns)
    SWEEP/test_evaluations.json  the chosen point's test reads, kept so that a collect never reads twice

The aggregate record (results format, docs/results.md) goes to ``reports/SWEEP_NAME.json`` unless
``--out`` names another folder (``results`` to record it in the repository).

A point's state is read from its run folder alone, with the rules of docs/runs.md: ``summary.json``
present = finished (skipped by a rerun); ``checkpoint.pt`` without it = unfinished (resumed with
``nobptt train --resume``); neither = not started (a fresh run; a folder left by an attempt killed
before its first checkpoint is reused, as ``nobptt train --run-dir`` does).
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nobptt.errors import ConfigError, DamagedFileError
from nobptt.sweep.grid import Axis, combinations
from nobptt.train import files

PLAN = "sweep.json"
PLAN_SCHEMA = "sweep-1"
UNSAFE = re.compile(r"[^A-Za-z0-9._+=-]")

NEW, UNFINISHED, FINISHED, DIVERGED = "new", "unfinished", "finished", "diverged"


@dataclass
class Point:
    """One run of the sweep: a combination of grid values and a seed."""

    name: str  # its run folder's name under SWEEP/runs/
    overrides: list[str]  # the combination, as --set values ("optim.lr=1e-3"); [] without a grid
    seed: int

    @property
    def combination(self) -> str:
        """What the seeds of one combination share: its record's label suffix and its group key."""
        return ", ".join(self.overrides)


@dataclass
class Plan:
    experiment: str  # as given: a registered name or a .toml path (made absolute)
    experiment_name: str  # the registered name (a file's stem)
    sets: list[str]  # --set values (and --steps / --device) shared by every point
    axes: list[dict[str, Any]]  # [{"key", "texts"}] in the order given
    seeds: list[int]
    points: list[Point]
    command: str = ""
    created: str = ""
    read_test: bool = True  # False: a probe (--no-test) that chooses on validation and never reads test

    def spec(self) -> dict[str, Any]:
        """What decides the points' runs (not how they are scheduled: --jobs, --backend). A probe is
        part of it, so a probe and a sweep that reads test never share a folder (added only when set,
        so the folders of sweeps made before the flag keep their names)."""
        spec = {"experiment": self.experiment, "sets": self.sets, "axes": self.axes, "seeds": self.seeds}
        return spec if self.read_test else {**spec, "read_test": False}

    def to_json(self) -> dict[str, Any]:
        return {"schema": PLAN_SCHEMA, **self.spec(), "experiment_name": self.experiment_name,
                "points": [asdict(p) for p in self.points], "command": self.command, "created": self.created}


def make_plan(experiment: str, experiment_name: str, sets: list[str], axes: list[Axis], seeds: list[int],
              command: str = "", read_test: bool = True) -> Plan:
    """The points of ``axes`` x ``seeds``, each named after its values and seed
    (``lr=1e-3_hidden=16_s0``; the section is added where two axes share a field name)."""
    fields = [a.key.split(".", 1)[1] for a in axes]
    shown = [a.key if fields.count(f) > 1 else f for a, f in zip(axes, fields)]
    points = []
    for combo in combinations(axes) or [[]]:
        overrides = [f"{axis.key}={axis.texts[i]}" for axis, i in combo]
        stem = "_".join(UNSAFE.sub("_", f"{shown[axes.index(axis)]}={axis.texts[i]}") for axis, i in combo)
        for seed in seeds:
            points.append(Point(f"{stem}_s{seed}" if stem else f"s{seed}", overrides, seed))
    names = [p.name for p in points]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise ConfigError(f"--grid values that differ only in characters a folder name cannot hold give the same "
                          f"run folder name(s) {clash}; write the values differently")
    return Plan(experiment, experiment_name, list(sets), [{"key": a.key, "texts": a.texts} for a in axes],
                list(seeds), points, command, time.strftime("%Y-%m-%dT%H:%M:%S"), read_test)


def default_sweep_dir(plan: Plan, root: Path = Path("sweeps")) -> Path:
    """``sweeps/EXPERIMENT-HASH``: the same command names the same folder, so rerunning it finishes
    what is missing; another grid, seed list or --set names another folder."""
    digest = hashlib.sha256(json.dumps(plan.spec(), sort_keys=True).encode()).hexdigest()[:8]
    return root / f"{plan.experiment_name}-{digest}"


def read_plan(sweep_dir: Path) -> Plan:
    path = Path(sweep_dir) / PLAN
    if not path.exists():
        raise ConfigError(f"{path} not found: {sweep_dir} is not a sweep folder made by `nobptt sweep`")
    try:
        data = json.loads(path.read_text())
        if data.get("schema") != PLAN_SCHEMA:
            raise ValueError(f"schema {data.get('schema')!r}, expected {PLAN_SCHEMA!r}")
        points = [Point(p["name"], list(p["overrides"]), int(p["seed"])) for p in data["points"]]
        return Plan(data["experiment"], data["experiment_name"], list(data["sets"]), list(data["axes"]),
                    list(data["seeds"]), points, data.get("command", ""), data.get("created", ""),
                    bool(data.get("read_test", True)))
    except (ValueError, KeyError, TypeError) as err:
        raise DamagedFileError(f"{path} is damaged ({err!r}); it is the plan `nobptt sweep` writes: restore it, "
                               f"or run the sweep again into a new --sweep-dir (the run folders under "
                               f"{Path(sweep_dir) / 'runs'} are intact and can be recorded with nobptt report)") from None


def write_plan(plan: Plan, sweep_dir: Path) -> None:
    """Write the plan, or check that the folder's plan is this one: a sweep folder holds one sweep."""
    path = Path(sweep_dir) / PLAN
    if path.exists():
        old = read_plan(sweep_dir)
        if old.spec() != plan.spec():
            diff = [f"{k}: {old.spec()[k]!r} there, {plan.spec()[k]!r} now" for k in plan.spec()
                    if old.spec()[k] != plan.spec()[k]]
            raise ConfigError(f"{sweep_dir} holds another sweep ({'; '.join(diff)}); rerun its own command "
                              f"({old.command or 'see ' + str(path)}) or choose another --sweep-dir")
        return
    from nobptt.train.checkpoint import save_json

    Path(sweep_dir).mkdir(parents=True, exist_ok=True)
    save_json(plan.to_json(), path)


def run_dir(sweep_dir: Path, point: Point) -> Path:
    return Path(sweep_dir) / "runs" / point.name


def log_path(sweep_dir: Path, point: Point) -> Path:
    return Path(sweep_dir) / "logs" / f"{point.name}.log"


def state(folder: Path) -> str:
    if (folder / files.SUMMARY).exists():
        return FINISHED
    # an outcome, like finishing: rerunning would diverge again, so a sweep skips it and leaves its
    # point out of the choice (a resume by hand removes the file)
    if (folder / files.DIVERGED).exists():
        return DIVERGED
    if (folder / files.CHECKPOINT).exists():
        return UNFINISHED
    return NEW


def train_args(plan: Plan, point: Point, folder: Path) -> list[str]:
    """The ``nobptt train`` arguments of a point: a fresh run, or a resume of an unfinished one. The
    fresh form is the command a user types to run the point by hand."""
    if state(folder) == UNFINISHED:
        return ["train", "--resume", str(folder)]
    sets = [a for o in [*plan.sets, *point.overrides] for a in ("--set", o)]
    return ["train", plan.experiment, *sets, "--seed", str(point.seed), "--run-dir", str(folder)]
