"""Evaluate a run's checkpoint and record it: checkpoint -> split -> metrics -> record, with no
trainer and no optimizer (``nobptt eval``; docs/runs.md, "Evaluating and recording").

Order matters for honesty (docs/results.md): whether a record may be written is checked before
any work, and a read of the test split is counted before the split is scored.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nobptt import config as cfg
from nobptt.errors import ConfigError
from nobptt.learners.base import Learner
from nobptt.run import build_stream, load_learner, read_run_config
from nobptt.train.evaluation import evaluate


@dataclass
class Evaluation:
    """One evaluation of a checkpoint on a split, with what a record of it needs."""

    run_dir: Path
    meta: dict[str, Any]  # the run folder's config.json
    config: dict[str, dict[str, Any]]  # resolved, evaluation overrides applied
    checkpoint: str
    split: str  # "heldout" (validation) or "test"
    step: int
    metrics: dict[str, float]
    wall_time_s: float
    ceilings: dict[str, float]  # the evaluated stream's own reference levels (e.g. adding's constant_mse)
    learner: Learner
    test_reads: int | None = None  # this checkpoint's test reads, this one included (test split only)


def check_recordable(out: str | None, allow_dirty: bool, run_dir: Path | None = None,
                     command: str = "") -> dict[str, Any] | None:
    """Checked before any work: a record is written from a clean tree, of a run trained (and
    resumed) from clean trees, unless ``allow_dirty`` (the diff is then saved beside the record).
    Returns the recording tree's provenance, or None when nothing is to be recorded."""
    if not out:
        return None
    from nobptt.records.build import training_provenance
    from nobptt.records.provenance import check_trained_clean, writing_provenance

    if run_dir is not None:
        training = training_provenance(read_run_config(run_dir), None)
        check_trained_clean([{"run_dir": str(run_dir), "training": training}], allow_dirty)
    return writing_provenance(Path(out).parent, Path(out).stem, allow_dirty)


def eval_config(meta: dict[str, Any], overrides: list[str], steps: int | None = None,
                device: str | None = None) -> dict[str, dict[str, Any]]:
    """The run's config with the evaluation's changes: only the evaluation stream (task.*) may change,
    and the model fields its learner's config names in ``EVAL_FIELDS`` (read by ``infer`` only, e.g.
    P-TNCN's ``beta_eval``: its weights evaluated without the state correction)."""
    from nobptt.learners.registry import get_learner_spec

    config = meta["config"]
    if steps:
        config["train"]["eval_steps"] = steps
    if device:
        config["train"]["device"] = device
    model_fields = getattr(get_learner_spec(config["model"]["name"]).config_cls, "EVAL_FIELDS", ())
    not_task = [o for o in overrides if not o.startswith("task.")
                and not (o.startswith("model.") and o.split("=", 1)[0][len("model."):] in model_fields)]
    if not_task:
        allowed = " and ".join(["task.* fields", *(f"model.{f}" for f in model_fields)])
        raise ConfigError(f"eval --set changes only the evaluation stream ({allowed}), not {not_task}")
    return cfg.resolve(cfg.apply_overrides(config, overrides))


def evaluate_checkpoint(run_dir: Path, checkpoint: str, split: str, overrides: list[str] = (),
                        steps: int | None = None, device: str | None = None, command: str = "") -> Evaluation:
    """Build the split's stream and the checkpoint's learner, count a test read, and score it."""
    meta = read_run_config(run_dir)
    config = eval_config(meta, list(overrides), steps, device)
    if not (run_dir / checkpoint).exists():
        raise ConfigError(f"{run_dir / checkpoint} not found; checkpoints there: "
                          f"{sorted(p.name for p in run_dir.glob('*.pt')) or 'none'}")
    train, device = config["train"], config["train"]["device"]
    try:
        stream = build_stream(config, split, device)
    except ValueError as err:
        raise ConfigError(f"--split {split}: {err}") from err
    learner, step = load_learner(config, run_dir / checkpoint, stream)
    test_reads = None
    if split == "test":
        from nobptt.records.provenance import count_test_read

        test_reads = count_test_read(run_dir, checkpoint, command)
    started = time.perf_counter()
    metrics = evaluate(learner, stream, train["eval_warmup"], train["eval_steps"], device)
    return Evaluation(run_dir, meta, config, checkpoint, split, step, metrics, time.perf_counter() - started,
                      stream.ceilings(), learner, test_reads)


def breakdown(evaluation: Evaluation) -> dict[str, Any]:
    """Copying only: where the errors fall, on a fresh stream of the same episodes."""
    from nobptt.diagnostics import copying_breakdown

    device = evaluation.config["train"]["device"]
    try:
        return copying_breakdown(evaluation.learner, build_stream(evaluation.config, evaluation.split, device), device)
    except ValueError as err:
        raise ConfigError(f"--breakdown: {err}") from err


def record_evaluation(evaluation: Evaluation, out: Path, command: str, writing: dict[str, Any],
                      overrides: list[str], details: dict[str, Any] | None = None, label: str | None = None) -> Path:
    """Append the evaluation's schema-1 record to ``out`` (a record of the same run, checkpoint,
    split and overrides is replaced)."""
    from nobptt.environment import environment
    from nobptt.records.build import evaluation_provenance, evaluation_record, unit_metrics
    from nobptt.records.costs import run_costs
    from nobptt.report import append_eval_record
    from nobptt.train.metrics import MetricsLog

    e = evaluation
    split = "valid" if e.split == "heldout" else e.split
    provenance = evaluation_provenance(command, e.checkpoint, e.step, split, e.wall_time_s,
                                       environment(e.config["train"]["device"]), writing)
    rows = MetricsLog(e.run_dir / "metrics.jsonl").rows()
    record = evaluation_record(e.run_dir, e.meta, rows, e.config, provenance,
                               unit_metrics(e.metrics, e.config["task"]["name"]), overrides, e.ceilings, details,
                               e.test_reads, label, run_costs(e.run_dir, rows))
    return append_eval_record(Path(out), record)
