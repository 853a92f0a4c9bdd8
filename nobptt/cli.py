"""nobptt: learn sequences without backpropagation through time. Commands: train, list, eval,
report, sweep, results, analyze, lm, bench; "nobptt COMMAND --help" describes each."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from nobptt.bench.commands import ALLOW_DIRTY, add_bench_parser, command_line
from nobptt.progress import ProgressLine, format_ceilings, format_row, is_evaluation

DEFAULT_EXPERIMENT = "ssmnist_pbrsm"


def cmd_train(args: argparse.Namespace) -> int:
    from nobptt import config as cfg
    from nobptt.run import new_run_dir, prepare, read_run_config

    command = command_line(args)
    if args.resume:
        meta = read_run_config(Path(args.resume))
        experiment, raw = meta["experiment"], meta["config"]
        overrides = args.overrides
        run_dir = Path(args.resume)
    else:
        experiment, raw = cfg.load_experiment(args.experiment or DEFAULT_EXPERIMENT)
        overrides = args.overrides
        run_dir = None
    for flag, key in ((args.device, "train.device"), (args.seed, "train.seed"), (args.steps, "train.steps")):
        if flag is not None:
            overrides = overrides + [f"{key}={flag}"]
    applied = cfg.apply_overrides(raw, overrides)
    if args.resume:  # before the new name's fields are checked against the old name's config
        for section in ("task", "model"):
            if applied[section].get("name") != raw[section].get("name"):
                raise cfg.ConfigError(
                    f"{section}.name cannot change at resume ({raw[section].get('name')!r} in "
                    f"{run_dir / 'config.json'}): the checkpoint was made with it; start a new run instead")
    resolved = cfg.resolve(applied)
    if run_dir is None:
        run_dir = Path(args.run_dir) if args.run_dir else new_run_dir(experiment, resolved["train"]["seed"])
    if args.checkpoint and not args.resume:
        raise cfg.ConfigError("--checkpoint names the checkpoint a resume starts from: use it with --resume RUN")
    run = prepare(resolved, run_dir, resume=bool(args.resume), experiment=experiment, command=command,
                  overrides=overrides, checkpoint=args.checkpoint or "")
    try:
        return _train(args, run, resolved, experiment, run_dir)
    finally:
        if getattr(run, "lock", None) is not None:
            run.lock.release()


def _train(args: argparse.Namespace, run: Any, resolved: dict[str, Any], experiment: str, run_dir: Path) -> int:
    trainer = run.trainer
    print(f"{'resuming' if args.resume else 'training'} {experiment}: {resolved['model']['name']} on "
          f"{resolved['task']['name']}, {resolved['train']['steps']} steps, run folder {run_dir}")
    print(format_ceilings(run.ceilings))
    task = resolved["task"]["name"]
    bar = ProgressLine(resolved["train"]["steps"], trainer.step, run.ceilings, task) \
        if resolved["train"]["progress"] else None

    broken: list[str] = []

    def progress(step: int, row: dict[str, Any]) -> None:
        # what is printed must never end a run: a formatting error is reported once, then skipped
        if broken:
            return
        try:
            if bar:
                bar(step, row)
            elif is_evaluation(row):
                print(format_row(row, run.ceilings, task), flush=True)
        except Exception as err:  # noqa: BLE001
            broken.append(repr(err))
            print(f"\nnote: the progress display failed at step {step} ({err!r}) and is off for this run; "
                  f"training goes on (metrics: {run_dir / 'metrics.jsonl'})", file=sys.stderr, flush=True)

    try:
        last = trainer.run(progress)
    finally:
        if bar:  # an error (e.g. a diverged run) then prints on its own line, not on the bar's
            bar.close()
    print("final: " + format_row(last, run.ceilings, task))
    print(f"metrics: {run_dir / 'metrics.jsonl'}; checkpoint: {trainer.checkpoint_path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from nobptt.config import list_experiments
    from nobptt.learners.registry import learner_specs
    from nobptt.tasks.registry import task_specs

    print("learners:")
    for name, spec in sorted(learner_specs().items()):
        print(f"  {name:16s} {spec.description}")
    print("tasks:")
    for name, spec in sorted(task_specs().items()):
        print(f"  {name:18s} {spec.description}")
    print("experiments (nobptt train NAME):")
    for name, header in list_experiments().items():
        mark = " (default)" if name == DEFAULT_EXPERIMENT else ""
        print(f"  {name:22s} {header}{mark}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from nobptt.evaluate import breakdown, check_recordable, evaluate_checkpoint, record_evaluation

    run_dir = Path(args.run_dir)
    writing = check_recordable(args.out, args.allow_dirty, run_dir)
    done = evaluate_checkpoint(run_dir, args.checkpoint, args.split, args.overrides, args.steps, args.device,
                               command_line(args))
    row = {"step": done.step, **done.metrics, "wall_time_s": done.wall_time_s}
    changed = "".join(f", {o}" for o in args.overrides)  # a zero-shot evaluation says what it changed
    print(f"{args.split} ({args.checkpoint}{changed}): " + format_row(row, done.ceilings, done.config["task"]["name"]))
    details = None
    if args.breakdown:
        from nobptt.diagnostics import format_breakdown

        details = {"breakdown": breakdown(done)}
        print(format_breakdown(details["breakdown"]))
    if args.out:
        path = record_evaluation(done, Path(args.out), command_line(args), writing, args.overrides, details, args.label)
        print(f"recorded in {path}")
    return 0


def cmd_frames(args: argparse.Namespace) -> int:
    from nobptt.analysis.frames import plot_frames, predicted_frames

    frames = predicted_frames(Path(args.run_dir), args.checkpoint, args.split, args.sequences, args.overrides,
                              command_line(args))
    path = plot_frames(frames, Path(args.out), args.steps)
    print(f"wrote {path}: {frames['truth'].shape[0]} sequences, {min(args.steps, frames['truth'].shape[1])} "
          f"steps, truth above prediction ({args.split}, {args.checkpoint}, step {frames['step']})")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from nobptt.config import ConfigError
    from nobptt.report import record_result

    out = Path(args.out)
    if out.suffix == ".json" or (out.exists() and not out.is_dir()):
        raise ConfigError(f"--out {out} names a file; --out is the folder that receives {args.name}.json and "
                          f"{args.name}.png (default reports): e.g. --out {out.parent} --name {out.stem}")
    labels = args.labels.split(",") if args.labels else None
    path = record_result([Path(p) for p in args.run_dirs], args.name, out, args.note, labels, args.allow_dirty)
    print(f"wrote {path} and {path.with_suffix('.png')}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from nobptt.sweep.command import run_command

    return run_command(args, command_line(args))


def cmd_analyze(args: argparse.Namespace) -> int:
    if args.analysis == "collapses":
        from nobptt.analysis.collapses import report

        print("\n".join(report(Path(args.path), args.drop, args.before)))
        return 0
    from nobptt.analysis.curves import main as draw

    print(f"wrote {draw(args.record_file, args.out)}")
    return 0


def cmd_lm_evaluate(args: argparse.Namespace) -> int:
    from nobptt.evaluate import check_recordable
    from nobptt.lm.evaluate import evaluate_run

    command = command_line(args)
    writing = check_recordable(args.out, args.allow_dirty, Path(args.run_dir))
    result = evaluate_run(Path(args.run_dir), args.checkpoint, args.device or "", command=command)
    mix = result["mixture"]
    print(f"step {result['step']} ({args.checkpoint}); mixture fitted on validation: model {mix['model']:.4f}, "
          f"cache {mix['cache']:.4f} (decay {mix['cache_decay']}), uniform {mix['uniform']:.4f}")
    for split in ("valid", "test"):
        r = result[split]
        print(f"{split}: {r['tokens']} tokens, perplexity {r['perplexity_model']:.2f} (model alone), "
              f"{r['perplexity_mixture']:.2f} (mixture)")
    print(f"wrote {Path(args.run_dir) / ('lm_evaluation_' + Path(args.checkpoint).stem + '.json')}")
    if args.out:
        from nobptt.lm.record import record_lm_result

        path = record_lm_result(result, Path(args.run_dir), Path(args.out), writing, result["test_reads"], args.label)
        print(f"recorded {path} (+ .png)")
    return 0


def cmd_lm_ngram(args: argparse.Namespace) -> int:
    from nobptt.lm.ngram import evaluate_ngram

    command = command_line(args)
    result = evaluate_ngram(args.order, args.data_dir, Path(args.out), command=command, allow_dirty=args.allow_dirty)
    for split in ("valid", "test"):
        r = result[split]
        print(f"{split}: {r['tokens']} tokens, perplexity {r['perplexity']:.2f}")
    print(f"wrote {args.out} ({result['wall_time_s']:.0f} s)")
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    from nobptt.records import tables

    if args.migrate:
        from nobptt.records.migrate import migrate_folder

        for line in migrate_folder(Path(args.results)):
            print(line)
        return 0
    if args.update_docs:
        for path in tables.update_docs(Path(args.root), Path(args.results)):
            print(f"updated {path}")
        return 0
    print(tables.table_from_args(args, Path(args.results)), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nobptt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train an experiment (default: %s)" % DEFAULT_EXPERIMENT)
    train.add_argument("experiment", nargs="?", help="experiment name (see: nobptt list) or .toml path")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override a config field, e.g. --set model.k=60 (repeatable)")
    train.add_argument("--run-dir", help="run folder (default: runs/EXPERIMENT-sSEED-TIME)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its checkpoint")
    train.add_argument("--checkpoint", help="with --resume: the checkpoint file in RUN_DIR to continue from "
                       "(default checkpoint.pt; checkpoint.prev.pt when the latest is damaged)")
    train.add_argument("--device", help="shortcut for --set train.device=...")
    train.add_argument("--seed", type=int, help="shortcut for --set train.seed=...")
    train.add_argument("--steps", type=int, help="shortcut for --set train.steps=...")
    train.set_defaults(func=cmd_train)
    sub.add_parser("list", help="list learners, tasks and experiments").set_defaults(func=cmd_list)
    ev = sub.add_parser("eval", help="held-out (or test) accuracy, cross-entropy or MSE of a run's checkpoint")
    ev.add_argument("run_dir")
    ev.add_argument("--checkpoint", default="checkpoint.pt",
                    help="file in the run folder (default: the latest; best.pt: the best held-out one)")
    ev.add_argument("--split", default="heldout", choices=("heldout", "test"),
                    help="test: the task's separate test stream, where it has one (touch it once per model)")
    ev.add_argument("--set", dest="overrides", action="append", default=[], metavar="task.KEY=VALUE",
                    help="change the evaluation stream, e.g. --set task.eval_T=1000 (transfer) or "
                         "--set task.glyphs=notmnist (zero-shot), or one of the learner's evaluation-only "
                         "fields, e.g. --set model.beta_eval=0 (docs/runs.md; repeatable)")
    ev.add_argument("--out", help="add the result, with the run's provenance, to this record file "
                    "(e.g. reports/sab.json; docs/results.md)")
    ev.add_argument("--steps", type=int, help="scored held-out steps (default: the run's eval_steps)")
    ev.add_argument("--breakdown", action="store_true",
                    help="copying only: also recall accuracy by position (1-10) and symbol, errors per episode")
    ev.add_argument("--device")
    ev.set_defaults(func=cmd_eval)
    fr = sub.add_parser("frames", help="a video task's predicted next frames beside the true ones, as a picture")
    fr.add_argument("run_dir")
    fr.add_argument("--checkpoint", default="checkpoint.pt", help="file in the run folder (best.pt: the best held-out one)")
    fr.add_argument("--split", default="heldout", choices=("heldout", "test"),
                    help="test: the test stream (counted as a test read, as nobptt eval --split test)")
    fr.add_argument("--sequences", type=int, default=2, help="sequences drawn (two rows each; default 2)")
    fr.add_argument("--steps", type=int, default=10, help="steps drawn per sequence (default 10)")
    fr.add_argument("--set", dest="overrides", action="append", default=[], metavar="task.KEY=VALUE",
                    help="change the evaluation stream, e.g. --set task.glyphs=notmnist (zero-shot)")
    fr.add_argument("--out", required=True, help="the picture file (.png)")
    fr.set_defaults(func=cmd_frames)
    rep = sub.add_parser("report", help="record run(s) (one per seed) as reports/NAME.json + .png")
    rep.add_argument("run_dirs", nargs="+")
    rep.add_argument("--name", required=True)
    rep.add_argument("--out", default="reports", help="folder for NAME.json and NAME.png (default reports; "
                     "the tracked results/ only when named)")
    rep.add_argument("--note", default="", help="free text stored with the result")
    rep.add_argument("--labels", help="comma-separated labels: runs are different configs, not seeds")
    rep.set_defaults(func=cmd_report)
    sw = sub.add_parser("sweep", help="seeds and a grid of one experiment: one run folder per point, local or on "
                        "Ray, resumable, one aggregate record (docs/sweep.md)")
    sw.add_argument("experiment", nargs="?", help="experiment name (see: nobptt list) or .toml path")
    sw.add_argument("--seeds", help="seeds, e.g. 0-4 or 0,2,5 (default: the experiment's train.seed)")
    sw.add_argument("--grid", action="append", default=[], metavar="SECTION.KEY=V1,V2",
                    help="values of one config field, e.g. --grid optim.lr=1e-3,3e-3 (repeatable: every combination)")
    sw.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a config field for every point (repeatable)")
    sw.add_argument("--steps", type=int, help="shortcut for --set train.steps=...")
    sw.add_argument("--device", help="shortcut for --set train.device=... (cuda: each run asks Ray for one GPU)")
    sw.add_argument("--jobs", type=int, help="runs at a time (local default 1; ray default: the cluster's CPUs "
                    "/ --threads)")
    sw.add_argument("--threads", type=int, help="threads per run (local default: cores // jobs; ray default 1, the "
                    "CPUs each run asks for)")
    sw.add_argument("--backend", default="local", choices=("local", "ray"),
                    help="local (default): processes on this machine; ray: tasks on a Ray cluster")
    sw.add_argument("--address", help="with --backend ray: an existing cluster, auto or HOST:PORT (default: start "
                    "a Ray instance on this machine)")
    sw.add_argument("--sweep-dir", help="the sweep folder (default sweeps/EXPERIMENT-HASH: the same command, the "
                    "same folder, so rerunning it continues the sweep)")
    sw.add_argument("--chosen", metavar="RECORD_FILE", help="print the grid point a sweep's aggregate record chose on "
                    "validation as --set options, for the runs that use the choice (no training)")
    sw.add_argument("--collect", metavar="SWEEP_DIR", help="write the aggregate record of an existing sweep "
                    "folder from its run folders (no training)")
    sw.add_argument("--out", help="folder for the aggregate record (default reports; the tracked results/ only "
                    "when named)")
    sw.add_argument("--name", help="the aggregate record's name (default: the sweep folder's)")
    sw.add_argument("--no-test", action="store_true", help="a probe: choose on validation and record the choice, "
                    "never reading the test split (for a recipe that later runs report)")
    sw.add_argument("--allow-dirty", action="store_true", help=ALLOW_DIRTY)
    sw.set_defaults(func=cmd_sweep)
    res = sub.add_parser("results", help="print a table from the record files (docs/results.md)")
    from nobptt.records.tables import add_table_arguments

    add_table_arguments(res)
    res.add_argument("--results", default="results", help="the folder of record files (default results)")
    res.add_argument("--update-docs", action="store_true",
                     help="rewrite every <!-- results: ARGS --> block in README.md and docs/**/*.md")
    res.add_argument("--root", default=".", help="with --update-docs: the repository root (default .)")
    res.add_argument("--migrate", action="store_true",
                     help="rewrite every file of the older formats in --results into schema 1 (one time)")
    res.set_defaults(func=cmd_results)
    analyze = sub.add_parser("analyze", help="analyses of recorded runs: collapses, curves").add_subparsers(
        dest="analysis", required=True)
    col = analyze.add_parser("collapses", help="validation collapses beside the gradient norms logged around them")
    col.add_argument("path", help="a run folder or a record file (nobptt report keeps every run's metrics rows)")
    col.add_argument("--drop", type=float, default=10.0, help="a collapse: a drop of more than this many "
                     "percentage points between validation points (default 10)")
    col.add_argument("--before", type=int, default=8, help="validation intervals before it for the baseline (default 8)")
    col.set_defaults(func=cmd_analyze)
    cur = analyze.add_parser("curves", help="the validation curves of a record file against updates (SAB copying / "
                             "adding evaluations) or of its training records")
    cur.add_argument("record_file")
    cur.add_argument("--out", help="the PNG to write (default: beside the record file)")
    cur.set_defaults(func=cmd_analyze)
    lm = sub.add_parser("lm", help="language-model evaluation").add_subparsers(dest="lm", required=True)
    lm_eval = lm.add_parser("evaluate", help="validation-fitted cache/uniform mixture, then one test pass")
    lm_eval.add_argument("run_dir")
    lm_eval.add_argument("--checkpoint", default="best.pt",
                         help="file in the run folder (default best.pt: best validation perplexity)")
    lm_eval.add_argument("--device")
    lm_eval.add_argument("--out", help="also record the result with the run's curve, e.g. reports/ptb_brsm.json")
    lm_eval.set_defaults(func=cmd_lm_evaluate)
    ngram = lm.add_parser("ngram", help="Kneser-Ney n-gram baseline on PTB (fit on train; valid and test)")
    ngram.add_argument("--order", type=int, default=5)
    ngram.add_argument("--data-dir", help="folder holding ptb_word/ (default: $NOBPTT_DATA, then the defaults)")
    ngram.add_argument("--out", default="reports/ptb_kn5.json")
    ngram.set_defaults(func=cmd_lm_ngram)
    add_bench_parser(sub)
    for command in (ev, rep, lm_eval, ngram):
        command.add_argument("--allow-dirty", action="store_true", help=ALLOW_DIRTY)
    ev.add_argument("--label", help="with --out: the record's label, its table row (default: the learner and what "
                    "its config changes from the experiment file, so seeds share a row)")
    lm_eval.add_argument("--label", help="with --out: the record's label, its table row (default: the run "
                         "folder's name without its seed, so seeds share a row)")
    return parser


def main(argv: list[str] | None = None) -> int:
    from nobptt.errors import NobpttError

    args = build_parser().parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return args.func(args)
    except (NobpttError, FileNotFoundError) as err:
        # these carry an actionable message; a traceback would only hide it
        print(f"nobptt: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (`nobptt list | head`): not an error of ours. Point stdout at devnull so
        # the interpreter's final flush does not raise again (Python docs, "Note on SIGPIPE")
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13  # the shell's status for a process ended by SIGPIPE


if __name__ == "__main__":
    raise SystemExit(main())
