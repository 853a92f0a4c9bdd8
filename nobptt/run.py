"""Glue between a resolved config and the trainer: build the task, learner and run folder."""
from __future__ import annotations

import fcntl
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nobptt.config import ConfigError, upgrade_config
from nobptt.errors import DamagedFileError, DataError, RunFolderError
from nobptt.environment import environment
from nobptt.learners.base import Learner, count_parameters
from nobptt.learners.registry import build_learner
from nobptt.tasks.base import Stream
from nobptt.tasks.registry import get_task_spec
from nobptt.train.allocator import keep_freed_memory
from nobptt.train.checkpoint import load_checkpoint, save_json
from nobptt.train.clipping import without_old_clip_state
from nobptt.train.config import TrainConfig
from nobptt.train.optim import OptimConfig
from nobptt.train.files import BEST, CHECKPOINT, DIVERGED, SUMMARY
from nobptt.train.trainer import Trainer, seed_everything


LOCK = ".lock"
# the files nobptt writes atomically into a run folder (through NAME...tmp, then a rename): a
# temporary file of one of them is left only by a writer killed before its rename
WRITTEN = ("config.json", SUMMARY, "metrics.jsonl", "checkpoint.", BEST, "test_reads.json", DIVERGED)
# [task] fields a resume may change: they shape only the held-out stream or where data is read
# from; every other [task] field and every [model] field is fixed by the checkpoint (its weights,
# its carried state and its training stream's position were made with them)
RESUMABLE_TASK_FIELDS = ("data_dir", "download")
# how a learner computes its gradient, not what it is: SAB's training path and its cache
# (docs/sab.md#speed); a run recorded on the reference path may be continued on either
RESUMABLE_MODEL_FIELDS = ("impl", "cache_mib")


class RunLock:
    """An OS lock (``fcntl.flock``) on ``RUN/.lock``: one process at a time owns a run folder.

    The lock file holds the owner's pid and command, so that a second process is refused with
    them. The kernel drops the lock when its file is closed, so it is released on exit, on an
    error and on a crash (kill -9) alike; the file itself is left behind and means nothing then."""

    def __init__(self, run_dir: Path, command: str = "") -> None:
        self.path = Path(run_dir) / LOCK
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown process"
            handle.close()
            raise RunFolderError(
                f"{run_dir} is in use by another process ({owner}); wait for it to finish, or give "
                f"this run another --run-dir") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}: {command or 'nobptt'}\n")
        handle.flush()
        self.handle = handle

    def release(self) -> None:
        if self.handle is not None and not self.handle.closed:
            self.handle.close()  # closing the file drops the lock

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


@dataclass
class Run:
    trainer: Trainer
    config: dict[str, dict[str, Any]]
    ceilings: dict[str, float]
    lock: RunLock | None = None


def _check_device(device: str) -> None:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device={device!r} but CUDA is not available here; use train.device=cpu")


def build_stream(config: dict[str, dict[str, Any]], split: str, device: str) -> Stream:
    """The task's stream for ``split``: "train", "heldout" or (where the task has one) "test"."""
    task = dict(config["task"])
    spec = get_task_spec(task.pop("name"))
    return spec.factory(spec.config_cls(**task), split, config["train"]["seed"], device)


def build_streams(config: dict[str, dict[str, Any]], device: str) -> tuple[Stream, Any]:
    return build_stream(config, "train", device), lambda: build_stream(config, "heldout", device)


def build_model(config: dict[str, dict[str, Any]], stream: Stream) -> Learner:
    model = dict(config["model"])
    return build_learner(model.pop("name"), model, stream.input_dim, stream.n_classes)


def new_run_dir(experiment: str, seed: int, root: Path = Path("runs")) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return root / f"{experiment}-s{seed}-{stamp}"


def _set_up_process(train_cfg: TrainConfig) -> None:
    """The process-wide settings of ``[train]``: device check, threads, allocator, denormals, seed."""
    _check_device(train_cfg.device)
    if train_cfg.threads:
        torch.set_num_threads(train_cfg.threads)
    if train_cfg.keep_freed_memory:
        keep_freed_memory()
    # process-wide, so set either way: a run with it off is not flushed by an earlier one's setting
    torch.set_flush_denormal(train_cfg.flush_denormal)
    seed_everything(train_cfg.seed)


def prepare(config: dict[str, dict[str, Any]], run_dir: Path, resume: bool = False,
            experiment: str = "", command: str = "", checkpoint: str = "", read_only: bool = False,
            overrides: list[str] | None = None) -> Run:
    """Build everything for the resolved ``config``; when ``resume``, restore the run folder's
    checkpoint (``checkpoint``: a file name in the run folder, default the latest one).
    ``read_only``: the checkpoint is loaded to be read, so the run folder (its metrics log) is left
    untouched (to evaluate only, ``load_learner`` builds no trainer and no optimizer).

    Unless ``read_only``, the run folder is locked (``RunLock``, returned in ``Run.lock``) before
    anything in it is read or written; the caller releases it when training ends. A resume with
    nothing left to do (the checkpoint already at or past ``train.steps``) is refused before
    anything in the folder changes, and a resume's config (``overrides``) reaches config.json only
    once the resumed run has written its first checkpoint."""
    train_cfg = TrainConfig(**config["train"])
    if not read_only and train_cfg.steps < 1:
        raise ConfigError(f"train.steps={train_cfg.steps} must be at least 1 (the number of training steps)")
    if resume and not read_only:
        check_resume_config(read_run_config(Path(run_dir))["config"], config, Path(run_dir))
    created = not Path(run_dir).exists()
    lock = None if read_only else RunLock(Path(run_dir), command)
    try:
        return _prepare(config, Path(run_dir), train_cfg, resume, experiment, command, checkpoint,
                        read_only, overrides, lock)
    except BaseException:
        if lock is not None:
            lock.release()
            # a folder this call made, refused before anything was written in it, is not left behind
            if created and sorted(p.name for p in Path(run_dir).iterdir()) == [LOCK]:
                (Path(run_dir) / LOCK).unlink()
                Path(run_dir).rmdir()
        raise


def _prepare(config: dict[str, dict[str, Any]], run_dir: Path, train_cfg: TrainConfig, resume: bool,
             experiment: str, command: str, checkpoint: str, read_only: bool,
             overrides: list[str] | None, lock: RunLock | None) -> Run:
    if not resume:
        _check_fresh_run_dir(run_dir)
    if lock is not None:
        _remove_stale_temporary_files(run_dir)
    _set_up_process(train_cfg)
    try:
        stream, make_eval = build_streams(config, train_cfg.device)
        learner = build_model(config, stream)
        optim = OptimConfig(**config["optim"])
        trainer = Trainer(learner, stream, train_cfg, run_dir, make_eval, stream.ceilings(), optim)
        if not read_only:
            # the held-out stream is built at each evaluation: build it once now, so that a setting it
            # refuses (task.eval_T=1 on adding) stops the run here, not after the first stretch of
            # training; the random generators are put back, so the run is the one it would have been
            rng = torch.get_rng_state(), np.random.get_state(), random.getstate()
            make_eval()
            torch.set_rng_state(rng[0])
            np.random.set_state(rng[1])
            random.setstate(rng[2])
    except ValueError as err:  # values that pass type checks but not the learner's or task's own
        raise ConfigError(f"invalid config value: {err}") from err
    ceilings = trainer.ceilings
    if resume:
        trainer.resume(run_dir / checkpoint if checkpoint else None, truncate_log=False)
        if not read_only:
            finished = trainer.step >= train_cfg.steps or trainer.stopped_early
            if trainer.stopped_early and (run_dir / SUMMARY).exists():
                raise RunFolderError(
                    f"nothing to do: {run_dir} stopped early at step {trainer.step}, {train_cfg.patience} "
                    f"evaluations after its best {train_cfg.best_metric} (step {trainer.best.get('step')}); "
                    f"to train on, resume with a larger --set train.patience=... or train.patience=0")
            if finished and (run_dir / SUMMARY).exists():
                raise RunFolderError(
                    f"nothing to do: {run_dir} finished at step {trainer.step}; raise --steps above "
                    f"{trainer.step} to continue it (e.g. `nobptt train --resume {run_dir} --steps "
                    f"{max(2 * trainer.step, trainer.step + 1)}`)")
            _check_log_reaches(trainer, run_dir)
            if finished:
                # killed as it finished: after its last checkpoint, before summary.json; the
                # trainer, with nothing left to train, writes the summary from the metrics log
                print(f"note: {run_dir} finished at step {trainer.step} but was stopped before writing "
                      f"summary.json; writing it now", file=sys.stderr)
            trainer.log.truncate_after(trainer.step)
            (run_dir / DIVERGED).unlink(missing_ok=True)  # continued (a lower rate, say): not diverged now
            at_step = trainer.step
            worked = read_run_config(run_dir)["config"]["train"]["steps"]
            if train_cfg.steps > worked:  # the command that continues with config.json's config
                trainer.resume_hint = f"nobptt train --resume {run_dir} --steps {train_cfg.steps}"
            trainer.after_first_save = lambda: _note_resume(run_dir, config, command, at_step,
                                                            train_cfg.device, overrides)
    else:
        meta = {"experiment": experiment, "command": command, "config": config,
                "parameters": count_parameters(learner), "ceilings": ceilings,
                **environment(train_cfg.device)}
        save_json(meta, run_dir / "config.json")
    return Run(trainer, config, ceilings, lock)


def load_learner(config: dict[str, dict[str, Any]], checkpoint: Path, stream: Stream) -> tuple[Learner, int]:
    """The learner of the resolved ``config`` with the weights of ``checkpoint``, and the step it
    was saved at: what evaluation needs, without a trainer, an optimizer or a training stream
    (``stream`` gives the input and output sizes). The process is set up as for training
    (``[train]`` threads, denormals, seed)."""
    train_cfg = TrainConfig(**config["train"])
    _set_up_process(train_cfg)
    try:
        learner = build_model(config, stream)
    except ValueError as err:
        raise ConfigError(f"invalid config value: {err}") from err
    learner.to(torch.device(train_cfg.device))
    ckpt = load_checkpoint(checkpoint, train_cfg.device)
    # checkpoints written before the clips moved to the trainer hold their buffers in the learner's
    # state (nobptt.train.clipping); evaluation needs no clip
    learner.load_state_dict(without_old_clip_state(ckpt["learner"]))
    return learner, int(ckpt["step"])


def check_resume_config(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]], run_dir: Path) -> None:
    """A resume may change [optim] and [train] (a learning rate, its schedule, the steps), the
    held-out stream and how the gradient is computed (RESUMABLE_MODEL_FIELDS); not the task, the
    learner or their other fields, which the checkpoint was made with."""
    for section in ("task", "model"):
        old, new = before.get(section, {}), after.get(section, {})
        for key in sorted(set(old) & set(new)):  # a field newer than the run folder takes its default
            resumable = (section == "task" and (key.startswith("eval_") or key in RESUMABLE_TASK_FIELDS)
                         or section == "model" and key in RESUMABLE_MODEL_FIELDS)
            if old[key] == new[key] or resumable:
                continue
            raise ConfigError(
                f"{section}.{key} cannot change at resume ({old[key]!r} in {run_dir / 'config.json'}, "
                f"{new[key]!r} now): the checkpoint was made with it. A resume may change [optim], "
                f"[train] and task.eval_*; to train with another {section}.{key}, start a new run")


def _check_log_reaches(trainer: Trainer, run_dir: Path) -> None:
    """The metrics log must hold the rows up to the checkpoint (the resumed run redoes only the
    work after it): a log emptied, deleted or cut short is refused before anything changes."""
    epoch = int(getattr(trainer, "checkpoint_config", {}).get("epoch_steps", trainer.config.epoch_steps))
    due = trainer.step - trainer.step % epoch
    if due < epoch:
        return
    steps = {row.get("step") for row in trainer.log.rows()}
    if due not in steps:
        last = max((s for s in steps if isinstance(s, int)), default=None)
        raise DataError(
            f"{trainer.log.path} ends {'with no row' if last is None else f'at step {last}'} but the "
            f"checkpoint is at step {trainer.step} (a row is due every {epoch} steps): the rows up to step "
            f"{due} are lost. Restore the file from a copy and resume, or start the run again.")


def _remove_stale_temporary_files(run_dir: Path) -> None:
    """Remove what a writer killed before its rename left (``NAME*.tmp`` of a file nobptt writes):
    called with the folder's lock held, so no writer of this folder is alive."""
    for path in run_dir.glob("*.tmp"):
        if path.name.startswith(WRITTEN):
            path.unlink(missing_ok=True)


def _check_fresh_run_dir(run_dir: Path) -> None:
    """A new run may not overwrite one that can be resumed or has finished; a folder left by an
    attempt killed before its first checkpoint is reused, its metrics log started afresh (rows
    from the killed attempt would otherwise precede the new run's in the curves)."""
    for name in (CHECKPOINT, SUMMARY):
        if (run_dir / name).exists():
            raise ConfigError(f"{run_dir} already holds a run ({name}); continue it with `nobptt train "
                              f"--resume {run_dir}` or choose another --run-dir")
    (run_dir / "metrics.jsonl").unlink(missing_ok=True)


def _note_resume(run_dir: Path, config: dict[str, dict[str, Any]], command: str, step: int, device: str,
                 overrides: list[str] | None = None) -> None:
    """Keep a resumed run's provenance in its config.json: "config" becomes the one now in effect
    (a resume may extend train.steps), "command" stays the first, and "resumed" lists each resume
    with its command, its overrides, the step it continued from and the machine and commit it ran
    on. Called once the resumed run has written its first checkpoint: a resume that fails before
    (a bad override, a divergence) leaves config.json as the last config that worked."""
    meta = read_run_config(run_dir)
    meta["config"] = config
    meta.setdefault("resumed", []).append({"command": command, "overrides": list(overrides or []),
                                           "at_step": step, **environment(device)})
    save_json(meta, run_dir / "config.json")


def read_run_config(run_dir: Path) -> dict[str, Any]:
    """A run folder's config.json; its "config" in the current layout (``upgrade_config``: run
    folders written before ``[optim]`` existed keep loading)."""
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise ConfigError(f"{path} not found: {run_dir} is not a run folder made by `nobptt train`")
    try:
        meta = json.loads(path.read_bytes())
        if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
            raise ValueError("no \"config\" object")
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise DamagedFileError(f"{path} is damaged: it is not the JSON object `nobptt train` writes ({err}). "
                               f"Restore it from a copy; without it the run cannot be resumed or evaluated.") from None
    if isinstance(meta.get("config"), dict):
        meta["config"] = upgrade_config(meta["config"], str(path))
    return meta
