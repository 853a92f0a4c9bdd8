"""The ``nobptt sweep`` command: its arguments checked and turned into a plan, a backend and a run
(docs/sweep.md). Every point's config is resolved before anything runs or any folder is made."""
from __future__ import annotations

import argparse
from pathlib import Path

from nobptt import config as cfg
from nobptt.errors import RecordError
from nobptt.records.provenance import tree_state
from nobptt.sweep import grid
from nobptt.sweep.backends import LocalBackend, RayBackend
from nobptt.sweep.collect import chosen_point, collect
from nobptt.sweep.plan import default_sweep_dir, make_plan
from nobptt.sweep.runner import sweep, torch_threads


def run_command(args: argparse.Namespace, command: str) -> int:
    """`nobptt sweep` (its arguments: nobptt/cli.py): check every point, then run the sweep; or, with
    ``--collect``, write the aggregate record of an existing sweep folder."""
    if args.chosen:
        if args.experiment:
            raise cfg.ConfigError(f"--chosen {args.chosen} reads a record; give no experiment with it "
                                  f"(got {args.experiment!r})")
        print(" ".join(f"--set {value}" for value in chosen_point(Path(args.chosen))))
        return 0
    if args.collect:
        if args.experiment:
            raise cfg.ConfigError(f"--collect {args.collect} records an existing sweep folder; give no experiment "
                                  f"with it (got {args.experiment!r})")
        if args.no_test:
            raise cfg.ConfigError(f"--no-test is part of a sweep's plan, given when the sweep is made; --collect "
                                  f"{args.collect} follows the plan in its sweep.json")
        with torch_threads(args.threads):  # --threads: the test reads' threads (default: torch's)
            path, lines = collect(Path(args.collect), Path(args.out) if args.out else None, args.name,
                                  args.allow_dirty, command)
        print("\n".join([*lines, f"recorded {path}"]))
        return 0
    if not args.experiment:
        raise cfg.ConfigError("give an experiment, e.g. nobptt sweep add_online --seeds 0-2 --grid optim.lr=1e-3,3e-3, "
                              "or --collect SWEEP_DIR")
    if args.address and args.backend != "ray":
        raise cfg.ConfigError(f"--address {args.address} names a Ray cluster: add --backend ray")
    name, raw = cfg.load_experiment(args.experiment)
    given = Path(args.experiment)
    experiment = str(given.resolve()) if given.suffix == ".toml" and given.exists() else args.experiment
    sets = list(args.overrides)
    for flag, key in ((args.device, "train.device"), (args.steps, "train.steps")):
        if flag is not None:
            sets.append(f"{key}={flag}")
    base = cfg.resolve(cfg.apply_overrides(raw, sets))
    axes = grid.parse_grid(args.grid)
    seeds = grid.parse_seeds(args.seeds) if args.seeds is not None else [base["train"]["seed"]]
    grid.check_points(raw, sets, axes, seeds, name)  # every point, before anything runs
    plan = make_plan(experiment, name, sets, axes, seeds, command, read_test=not args.no_test)
    tree = tree_state()
    if tree["clean"] is not True and not args.allow_dirty:  # refused before hours of work, not after
        raise RecordError(
            f"refusing to sweep: its aggregate record is written only from a clean tree and this one is not "
            f"({', '.join(tree['dirty'][:8]) or 'its state cannot be checked'}); commit, or pass --allow-dirty to "
            f"record anyway with the diff saved beside the record")
    for flag, value in (("--jobs", args.jobs), ("--threads", args.threads)):
        if value is not None and value < 1:
            raise cfg.ConfigError(f"{flag} {value}: give at least 1")
    if args.backend == "ray":
        backend = RayBackend(args.jobs, args.threads, args.address)
    else:
        backend = LocalBackend(args.jobs or 1, args.threads)
    sweep_dir = Path(args.sweep_dir) if args.sweep_dir else default_sweep_dir(plan)
    if args.backend == "ray":  # a Ray task runs in its worker's folder, on whichever node: absolute paths
        sweep_dir = sweep_dir.resolve()
    print(f"sweep of {name}: {len(plan.points)} runs ({len(plan.points) // len(seeds)} grid point(s) x "
          f"{len(seeds)} seed(s)) in {sweep_dir}, {args.backend} backend, {backend.slots} at a time")
    gpus = 1 if base["train"]["device"].startswith("cuda") else 0
    return sweep(plan, sweep_dir, backend, base["train"]["steps"], base["task"]["name"], {}, gpus,
                 Path(args.out) if args.out else None, args.name, args.allow_dirty, command)
