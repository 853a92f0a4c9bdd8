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


def eval_fields(learner: str) -> tuple[str, ...]:
    """The [model] fields of ``learner`` that ``nobptt eval --set`` may change: those its config class
    declares evaluation-only (a class attribute ``EVAL_FIELDS``), i.e. fields that shape no weight
    and no state a checkpoint holds (e.g. P-TNCN's correction strength at evaluation, an ESN's
    probability floor). Every other field is fixed by the checkpoint."""
    from nobptt.learners.registry import get_learner_spec

    try:
        spec = get_learner_spec(learner)
    except KeyError as err:
        raise ConfigError(str(err)) from None
    return tuple(getattr(spec.config_cls, "EVAL_FIELDS", ()))


def check_eval_overrides(config: dict[str, dict[str, Any]], overrides: list[str]) -> None:
    """Refuse an evaluation override that the checkpoint cannot honour: anything but task.* (the
    evaluation stream: another length, another task's data for zero-shot evaluation) and the
    learner's evaluation-only model fields (``eval_fields``)."""
    learner = config.get("model", {}).get("name", "")
    for text in overrides:
        section, key, _ = cfg.parse_override(text)
        if section == "task":
            continue
        if section == "model":
            allowed = eval_fields(learner)
            if key in allowed:
                continue
            raise ConfigError(
                f"eval --set {text}: model.{key} is fixed by the checkpoint (the {learner} learner was trained "
                f"with it; it may shape its weights or architecture). The {learner} learner's evaluation-only "
                f"fields (EVAL_FIELDS of its config class): {', '.join(f'model.{f}' for f in allowed) or 'none'}; "
                f"to change model.{key}, train a new run")
        raise ConfigError(f"eval --set {text}: eval changes only the evaluation stream (task.* fields) and "
                          f"a learner's evaluation-only model.* fields, not {section}.{key}")


def eval_config(meta: dict[str, Any], overrides: list[str], steps: int | None = None,
                device: str | None = None) -> dict[str, dict[str, Any]]:
    """The run's config with the evaluation's changes: the evaluation stream (task.*) and the
    learner's evaluation-only fields (model.*, ``eval_fields``) may change."""
    config = meta["config"]
    if steps:
        config["train"]["eval_steps"] = steps
    if device:
        config["train"]["device"] = device
    check_eval_overrides(config, overrides)
    return cfg.resolve(cfg.apply_overrides(config, overrides))


def model_overrides(overrides: list[str]) -> list[str]:
    """The overrides of [model] fields (an evaluation-only change of the learner, not of the data)."""
    return [o for o in overrides if cfg.parse_override(o)[0] == "model"]


def eval_label(evaluation: "Evaluation", overrides: list[str]) -> str | None:
    """The default label of a record with model overrides: the trained model's label, then what the
    evaluation changed ("...; evaluated with model.beta_eval=0"), so such a row never reads as the
    trained configuration. None (the usual label) without model overrides."""
    changed = model_overrides(overrides)
    if not changed:
        return None
    from nobptt.records.labels import record_label

    trained = {s: dict(v) for s, v in evaluation.config.items()}
    trained["model"] = cfg.resolve(evaluation.meta["config"])["model"]
    return record_label(trained, evaluation.meta.get("experiment")) + "; evaluated with " + ", ".join(changed)


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
                               e.test_reads, label or eval_label(e, overrides),
                               run_costs(e.run_dir, rows))
    return append_eval_record(Path(out), record)
