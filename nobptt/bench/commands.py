"""``nobptt bench memory|speed|profile|allocator|denormals``: the benchmark commands and their arguments
(docs/bench.md); nobptt/cli.py adds them with :func:`add_bench_parser`."""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

ALLOW_DIRTY = ("record even from a tree with uncommitted changes (the diff is saved beside the record "
               "and the row is marked as not pinned)")


def command_line(args: argparse.Namespace) -> str:
    """The command line as run (recorded with every run and result; ``args.argv`` set by cli.main)."""
    return "nobptt " + " ".join(shlex.quote(a) for a in args.argv)


def _bench_names(args: argparse.Namespace) -> list[str]:
    import torch

    from nobptt.bench.variants import bench_names, check_names
    from nobptt.config import ConfigError

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {args.device} but CUDA is not available here; use --device cpu")
    names = args.learners.split(",") if args.learners else bench_names()
    try:
        check_names(names)
    except ValueError as err:
        raise ConfigError(str(err)) from err
    return names


def _scales(text: str | None) -> list[float | None]:
    from nobptt.config import ConfigError

    try:
        return [float(s) for s in text.split(",")] if text else [None]
    except ValueError as err:
        raise ConfigError(f"--scales {text!r}: give comma-separated numbers such as 0.5,1,2") from err


def _hiddens(args: argparse.Namespace) -> list[int | None]:
    from nobptt.config import ConfigError

    if not args.hidden:
        return [None]
    if args.scales:
        raise ConfigError("--hidden and --scales both set the model size; give one of them")
    try:
        hiddens = [int(h) for h in args.hidden.split(",")]
    except ValueError as err:
        raise ConfigError(f"--hidden {args.hidden!r}: give comma-separated unit counts such as 16,32") from err
    if min(hiddens) < 1:
        raise ConfigError(f"--hidden {args.hidden!r}: every size must be at least 1")
    return hiddens


def _bench_done(rows: list[dict], out: Path) -> int:
    failed = [f"{r.get('learner')} (T={r.get('T', '-')}): {(r['error'].splitlines() or ['no message'])[-1]}"
              for r in rows if "error" in r]
    print(f"wrote {out} and {out.with_suffix('.png')}")
    if failed:
        print("nobptt: error: these configurations failed (their rows carry the error):\n  "
              + "\n  ".join(failed), file=sys.stderr)
    return 1 if failed else 0


def cmd_bench_memory(args: argparse.Namespace) -> int:
    from nobptt.bench.memory import sweep
    from nobptt.evaluate import check_recordable
    from nobptt.bench.plots import plot_memory_vs_length, plot_memory_vs_parameters

    check_recordable(args.out, args.allow_dirty)  # refused before minutes of work, not after
    names, scales, hiddens = _bench_names(args), _scales(args.scales), _hiddens(args)
    lengths = [int(t) for t in args.lengths.split(",")]
    out = Path(args.out)
    rows = sweep(names, lengths, args.batch, args.device, out, scales, hiddens=hiddens)
    plot = plot_memory_vs_parameters if len(scales) > 1 else plot_memory_vs_length
    plot([r for r in rows if "error" not in r], out.with_suffix(".png"))
    return _bench_done(rows, out)


def _bench_experiment_speed(args: argparse.Namespace, out: Path) -> list[dict]:
    """``bench speed --experiment EXP --variant ...``: each variant checked before any is timed."""
    from nobptt import config as cfg
    from nobptt.bench.speed import parse_variant, sweep_experiment
    from nobptt.config import ConfigError

    if args.learners or args.scales or args.hidden:
        raise ConfigError("--experiment times the experiment's own model: give its variants with --variant "
                          "NAME=section.key=value;..., not --learners / --scales / --hidden")
    if len(args.experiment) > 1 and args.variant:
        raise ConfigError(f"--variant changes one experiment's config; with {len(args.experiment)} experiments "
                          f"each is timed as it is (one row each, named after it): give one --experiment "
                          f"with --variant")
    for experiment in args.experiment:
        _, sections = cfg.load_experiment(experiment)
        for text in args.variant or [experiment]:
            try:
                _, overrides = parse_variant(text)
            except ValueError as err:
                raise ConfigError(str(err)) from err
            cfg.resolve(cfg.apply_overrides(sections, overrides))  # a bad override fails here, named
    return sweep_experiment(args.experiment, args.variant, args.steps, args.device, out)


def cmd_bench_speed(args: argparse.Namespace) -> int:
    from nobptt.bench.plots import plot_speed
    from nobptt.bench.speed import sweep
    from nobptt.evaluate import check_recordable

    from nobptt.config import ConfigError

    check_recordable(args.out, args.allow_dirty)  # refused before minutes of work, not after
    out = Path(args.out)
    if args.experiment:
        rows = _bench_experiment_speed(args, out)
    else:
        if args.variant:
            raise ConfigError("--variant needs --experiment (the experiment whose config each variant changes)")
        names, scales, hiddens = _bench_names(args), _scales(args.scales), _hiddens(args)
        rows = sweep(names, args.batch, args.steps, args.device, out, scales, hiddens=hiddens)
    plot_speed([r for r in rows if "error" not in r], out.with_suffix(".png"))
    return _bench_done(rows, out)


def cmd_bench_profile(args: argparse.Namespace) -> int:
    """``bench profile --experiment EXP [--set k=v]``: one update's time by operator (CSV + JSON)."""
    from nobptt import config as cfg
    from nobptt.bench.profile import profile_experiment, write_profile
    from nobptt.environment import environment

    out = Path(args.out)
    if out.parent.resolve() == Path("results").resolve():  # the folder `nobptt results` reads as records
        raise cfg.ConfigError(f"--out {out}: a profile's JSON summary is not a record file, and in results/ it "
                              f"would stop `nobptt results`; write it under results/profiles/ (docs/results.md)")
    _, sections = cfg.load_experiment(args.experiment)
    cfg.resolve(cfg.apply_overrides(sections, args.set))  # a bad override fails here, named
    result = profile_experiment(args.experiment, args.set, args.updates, args.device, args.seed)
    machine = environment(args.device)
    result["summary"].update(command=command_line(args), commit=machine["commit"], clean=machine["clean"],
                             hardware=machine["hardware"])
    summary = write_profile(result, out)
    s = result["summary"]
    print(f"{args.experiment}: {s['ms_per_update_unprofiled']} ms per update unprofiled, "
          f"{s['ms_per_update_profiled']} ms profiled, {s['profiler_events_per_update']} profiler events per update")
    for row in result["rows"][:args.top]:
        print(f"  {row['share']:7.2%} {row['self_ms_per_update']:9.2f} ms {row['calls_per_update']:8.1f} calls  {row['op']}")
    print(f"wrote {args.out} and {summary}")
    return 0


def cmd_bench_denormals(args: argparse.Namespace) -> int:
    import json

    from nobptt.bench.denormals import record

    measured = record(Path(args.out), args.allow_dirty, command_line(args))
    print(json.dumps({k: measured[k] for k in ("training_10_updates", "bench_lstm_bptt_T10000", "hardware")}, indent=1))
    print(f"wrote {args.out}")
    return 0


def cmd_bench_allocator(args: argparse.Namespace) -> int:
    from nobptt.bench.allocator import format_measurement, measure

    print(format_measurement(measure(args.repeats, args.updates)))
    return 0


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """The ``bench`` command and its subcommands on the top-level parser's ``sub``."""
    bench = sub.add_parser("bench", help="measure memory and speed of every learner").add_subparsers(
        dest="bench", required=True)
    mem = bench.add_parser("memory", help="training memory vs sequence length T, one fresh process per config")
    mem.add_argument("--lengths", default="100,1000,10000", help="comma-separated sequence lengths T")
    mem.add_argument("--batch", type=int, default=16, help="parallel streams")
    mem.add_argument("--out", default="reports/bench_memory.csv")
    mem.set_defaults(func=cmd_bench_memory)
    speed = bench.add_parser("speed", help="train/infer throughput and share of the measured matmul rate")
    speed.add_argument("--batch", type=int, default=300, help="parallel streams (ssMNIST: 300)")
    speed.add_argument("--steps", type=int, default=60,
                       help="steps per timed pass; a multiple of every BPTT window (default 60)")
    speed.add_argument("--out", default="reports/bench_speed.csv")
    speed.add_argument("--experiment", action="append", default=[],
                       help="time this experiment's own task and model (its batch, input and threads) instead of "
                       "the synthetic ssMNIST-shaped input; --batch is then unused (repeatable: one row per "
                       "experiment, each as it is)")
    speed.add_argument("--variant", action="append", default=[], metavar="NAME=SECTION.KEY=VALUE;...",
                       help="with --experiment: a row named NAME with these overrides (repeatable), e.g. "
                            "'tbptt5=model.name=tbptt;model.k=5;model.update_every=5'")
    speed.set_defaults(func=cmd_bench_speed)
    prof = bench.add_parser("profile", help="where one training update of an experiment spends its time, "
                            "by operator (torch.profiler): CSV + JSON")
    prof.add_argument("--experiment", required=True, help="the experiment whose update is profiled")
    prof.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                      help="override a config value (repeatable), e.g. model.impl=reference")
    prof.add_argument("--updates", type=int, default=3, help="profiled updates, after one warm-up")
    prof.add_argument("--seed", type=int, default=0)
    prof.add_argument("--device", default="cpu")
    prof.add_argument("--top", type=int, default=15, help="operators printed (the CSV has all)")
    prof.add_argument("--out", default="reports/bench_profile.csv")
    prof.set_defaults(func=cmd_bench_profile)
    alloc = bench.add_parser("allocator", help="page faults per update with and without train.keep_freed_memory "
                             "(glibc), one fresh process per repeat; prints, writes nothing")
    alloc.add_argument("--repeats", type=int, default=5, help="fresh processes per mode")
    alloc.add_argument("--updates", type=int, default=6, help="simulated updates per process")
    alloc.set_defaults(func=cmd_bench_allocator)
    denormals = bench.add_parser("denormals", help="full BPTT's speed with denormal floats kept and flushed, "
                                 "fresh one-thread processes (about 3 min)")
    denormals.add_argument("--out", default="reports/denormals.json")
    denormals.add_argument("--allow-dirty", action="store_true", help=ALLOW_DIRTY)
    denormals.set_defaults(func=cmd_bench_denormals)
    for command in (mem, speed):
        command.add_argument("--learners", help="comma-separated (default: every registered learner and variant)")
        command.add_argument("--scales", help="model sizes, e.g. 0.5,1,2: RSM family scaled, LSTM "
                             "parameter-matched to the flat bRSM (default: each learner's own config)")
        command.add_argument("--hidden", help="hidden sizes, e.g. 16,32, for the learners whose config has "
                             "one (the online learners, the LSTM); the others run at their own config")
        command.add_argument("--device", default="cpu")
        command.add_argument("--allow-dirty", action="store_true", help=ALLOW_DIRTY)
