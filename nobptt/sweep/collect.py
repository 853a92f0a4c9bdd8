"""A sweep's aggregate record, in the results format (docs/results.md): one ``training`` record per
grid point (its seeds' metrics as mean, std and values, every run's provenance), the point chosen on
validation only, and its test split read once through ``nobptt eval``'s path (one ``evaluation``
record per seed of the chosen point).

Honesty rules (docs/sweep.md, docs/results.md):

- The choice reads validation numbers only: each run's best held-out value of the experiment's
  ``train.best_metric`` (the value its ``best.pt`` was kept for), averaged over the point's seeds;
  without a ``best_metric``, each run's last held-out value (and its last checkpoint).
- Nothing is chosen, and no test split read, while a run of the sweep is unfinished: a later rerun
  could change the choice, and a test number read for a choice that was then dropped is a test
  number looked at twice.
- The test reads are kept in ``SWEEP/test_evaluations.json`` (per run folder, checkpoint and its
  sha256), so collecting again writes the same record without reading the test split again.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from nobptt.errors import ConfigError, RecordError
from nobptt.sweep.plan import DIVERGED, FINISHED, Plan, Point, read_plan, run_dir, state
from nobptt.sweep.sessions import read_sessions

TEST_CACHE = "test_evaluations.json"
# train.best_metric -> (the record's validation metric, whether lower is better)
# (every value of train.best_metric the trainer accepts, nobptt.train.trainer.BEST_METRICS; a test
# keeps the two in step)
SELECTION = {"heldout_nll": ("best_nll_nats", True), "heldout_mse": ("best_mse", True),
             "heldout_accuracy": ("best_accuracy", False), "heldout_bce": ("best_bce_nats", True)}
# without a best_metric: the last held-out value, the first of these a run logged
LAST = (("nll_nats", True), ("mse", True), ("bce_nats", True), ("accuracy", False))


def groups(plan: Plan) -> dict[str, list[Point]]:
    """The plan's points by grid combination (the seeds of one combination), in the plan's order."""
    out: dict[str, list[Point]] = {}
    for point in plan.points:
        out.setdefault(point.combination, []).append(point)
    return out


def record_name(sweep_dir: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", Path(sweep_dir).resolve().name)


def selection(config: dict[str, Any], metrics: dict[str, Any]) -> tuple[str, bool, str]:
    """(validation metric name, lower is better, checkpoint to test) for a run's resolved config."""
    best = config["train"].get("best_metric") or ""
    if best in SELECTION:
        name, lower = SELECTION[best]
        return name, lower, "best.pt"
    for name, lower in LAST:
        if name in metrics:
            return name, lower, "checkpoint.pt"
    raise RecordError("the sweep's runs logged no held-out metric (held-out accuracy, cross-entropy, MSE or BCE) to "
                      "choose a point by; set train.eval_every or train.best_metric in the experiment")


def _mean(value: Any) -> float:
    return value["mean"] if isinstance(value, dict) else float(value)


def collect(sweep_dir: Path, out_dir: Path | None = None, name: str | None = None, allow_dirty: bool = False,
            command: str = "") -> tuple[Path, list[str]]:
    """Write ``OUT/NAME.json`` (default ``reports/``, named after the sweep folder: writers default to
    the user's folder, docs/runs.md) from the sweep's run folders; returns its path and a few lines
    for the terminal."""
    from nobptt.records.build import training_record
    from nobptt.records.io import write_file
    from nobptt.records.labels import record_label
    from nobptt.records.provenance import check_trained_clean, writing_provenance
    from nobptt.records.schema import SCHEMA
    from nobptt.report import run_summary

    sweep_dir = Path(sweep_dir)
    plan = read_plan(sweep_dir)
    out_dir = Path(out_dir) if out_dir else Path("reports")
    name = name or record_name(sweep_dir)
    _check_not_another_record(out_dir / f"{name}.json", sweep_dir)
    records, missing, diverged, scored = [], [], [], []
    for combination, points in groups(plan).items():
        states = {p.name: state(run_dir(sweep_dir, p)) for p in points}
        done = [p for p in points if states[p.name] == FINISHED]
        # a diverged run is an outcome: its point is left out of the choice (a rate too high for the
        # model is a result of the grid), and the choice does not wait for it
        lost = [p for p in points if states[p.name] == DIVERGED]
        missing += [p.name for p in points if p not in done and p not in lost]
        diverged += [p.name for p in lost]
        if not done:
            continue
        runs = [run_summary(run_dir(sweep_dir, p)) for p in done]
        first = runs[0]["meta"]
        label = record_label(first["config"], first.get("experiment")) + (f"; {combination}" if combination else "")
        record = training_record(runs, label)
        metric, lower, checkpoint = selection(first["config"], record["metrics"])
        if metric not in record["metrics"]:
            raise RecordError(f"{sweep_dir}: the runs of {combination or 'the sweep'} logged no {metric} to choose by")
        value = _mean(record["metrics"][metric])
        record["details"]["sweep"] = {
            "folder": str(sweep_dir), "point": list(points[0].overrides), "seeds": [p.seed for p in points],
            "missing_seeds": [p.seed for p in points if p not in done],
            "diverged_seeds": [p.seed for p in lost],
            "selection": {"metric": metric, "lower_is_better": lower, "value": value, "chosen": False}}
        records.append(record)
        if len(done) == len(points):
            scored.append((value if lower else -value, combination, record, done, checkpoint))
    if not records:
        raise RecordError(f"{sweep_dir}: no point of the sweep has finished yet; nothing to record")
    sessions = read_sessions(sweep_dir)
    for record in records:
        record["details"]["sweep"]["sessions"] = sessions
    check_trained_clean([run for r in records for run in r["runs"]], allow_dirty)  # before a test read
    writing = writing_provenance(out_dir, name, allow_dirty)
    for record in records:
        record["details"]["recorded_from"] = writing
    lines = []
    left_out = f"; diverged, left out of the choice: {', '.join(diverged)}" if diverged else ""
    if missing:
        note = (f"sweep of {plan.experiment_name}, {len(plan.points)} runs, {len(missing)} unfinished "
                f"({', '.join(missing)}): nothing chosen and no test split read until every run has finished"
                + left_out)
        lines.append(note)
    elif not scored:
        note = (f"sweep of {plan.experiment_name}, {len(plan.points)} runs: every point diverged in at least one "
                f"seed, nothing chosen and no test split read" + left_out)
        lines.append(note)
    else:
        _, combination, chosen, done, checkpoint = min(scored, key=lambda s: s[0])
        chosen["details"]["sweep"]["selection"]["chosen"] = True
        # a probe (--no-test) chooses a recipe for later runs: reading its test split would be a test
        # read before the choice those runs report
        tests = test_records(sweep_dir, plan, done, checkpoint, chosen["label"], writing, command) \
            if plan.read_test else []
        records += tests
        sel = chosen["details"]["sweep"]["selection"]
        read = (f"test split read once from {checkpoint} of its {len(done)} run(s)" if tests
                else "the task has no test split" if plan.read_test
                else "a probe (--no-test): the test split was not read")
        note = (f"sweep of {plan.experiment_name}, {len(plan.points)} runs; chosen on validation "
                f"({sel['metric']}, {'lower' if sel['lower_is_better'] else 'higher'} is better, mean over seeds "
                f"{sel['value']:.6g}): {combination or 'the only point'}; " + read + left_out)
        lines.append(note)
    path = out_dir / f"{name}.json"
    write_file(path, {"schema": SCHEMA, "name": name, "note": note, "records": records})
    return path, lines


def _check_not_another_record(path: Path, sweep_dir: Path) -> None:
    """The aggregate record replaces its own earlier version only, never a record file of other
    runs (numbers already recorded must not change): refused before any test read."""
    from nobptt.records.io import load_file

    if not path.exists():
        return
    records = load_file(path)["records"]
    folders = [((r.get("details") or {}).get("sweep") or {}).get("folder") for r in records if r["kind"] == "training"]
    ours = [folder is not None and Path(folder).resolve() == Path(sweep_dir).resolve() for folder in folders]
    if not ours or not all(ours):
        raise RecordError(f"{path} already holds records that are not this sweep's ({sweep_dir}); give the "
                          f"aggregate record another --name or --out")


def test_records(sweep_dir: Path, plan: Plan, points: list[Point], checkpoint: str, label: str,
                 writing: dict[str, Any], command: str) -> list[dict[str, Any]]:
    """One ``evaluation`` record of the test split per run of the chosen point, each read once
    through ``nobptt eval --out``'s path into ``SWEEP/test_evaluations.json`` (a record file of its
    own); a read already made there (same run folder, checkpoint and sha256) is taken from it."""
    from nobptt.evaluate import evaluate_checkpoint, record_evaluation
    from nobptt.records.io import load_file
    from nobptt.records.provenance import sha256_of

    cache = Path(sweep_dir) / TEST_CACHE
    command = command or f"nobptt sweep --collect {sweep_dir}"
    out = []
    for point in points:
        folder = run_dir(sweep_dir, point)
        ckpt = checkpoint if (folder / checkpoint).exists() else "checkpoint.pt"
        sha = sha256_of(folder / ckpt)

        def kept() -> dict[str, Any] | None:
            # the run is known by its folder's name under runs/ and its checkpoint's sha256, not by
            # the path the read was recorded under: a sweep run with a relative --sweep-dir and
            # collected from another folder would otherwise read the test split again
            for record in load_file(cache)["records"] if cache.exists() else []:
                run = record["runs"][0]
                if (Path(run["run_dir"]).name == folder.name and run["evaluation"]["checkpoint"] == ckpt
                        and record["details"].get("checkpoint_sha256") == sha):
                    return record
            return None

        record = kept()
        if record is None:
            try:
                done = evaluate_checkpoint(folder, ckpt, "test", command=command)
            except ConfigError as err:
                if "--split test" in str(err):  # the task has no test stream: nothing to read
                    return []
                raise
            # written at once: a read is never lost to a later error
            record_evaluation(done, cache, command, writing, [], {"checkpoint_sha256": sha}, label)
            record = kept()
        # labelled by today's rule, as the training records are: a label is how a row is named, not
        # provenance (a read kept from before a fix of the rule keeps its numbers and counts)
        out.append({**record, "label": label})
    return out


def chosen_point(path: Path) -> list[str]:
    """The grid point (``SECTION.KEY=VALUE`` strings) a sweep's aggregate record chose on validation,
    for later runs to train with (``nobptt sweep --chosen FILE`` prints them as --set options)."""
    from nobptt.records.io import load_file

    points = {tuple(r["details"]["sweep"]["point"]) for r in load_file(path).get("records", [])
              if ((r.get("details") or {}).get("sweep") or {}).get("selection", {}).get("chosen")}
    if len(points) != 1:
        why = "no point was chosen (a sweep records a choice only once all its runs have finished)" if not points \
            else f"{len(points)} points are marked chosen: {sorted(points)}"
        raise RecordError(f"{path}: {why}; the choice comes from one sweep's aggregate record (nobptt sweep --out)")
    return list(points.pop())
