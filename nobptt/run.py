"""Glue between a resolved config and the trainer: build the task, learner and run folder."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nobptt.config import ConfigError, upgrade_config
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
from nobptt.train.trainer import Trainer, seed_everything


@dataclass
class Run:
    trainer: Trainer
    config: dict[str, dict[str, Any]]
    ceilings: dict[str, float]


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
            experiment: str = "", command: str = "", checkpoint: str = "", read_only: bool = False) -> Run:
    """Build everything for the resolved ``config``; when ``resume``, restore the run folder's
    checkpoint (``checkpoint``: a file name in the run folder, default the latest one).
    ``read_only``: the checkpoint is loaded to be read, so the run folder (its metrics log) is left
    untouched (to evaluate only, ``load_learner`` builds no trainer and no optimizer)."""
    train_cfg = TrainConfig(**config["train"])
    if not resume:
        _check_fresh_run_dir(Path(run_dir))
    _set_up_process(train_cfg)
    try:
        stream, make_eval = build_streams(config, train_cfg.device)
        learner = build_model(config, stream)
        optim = OptimConfig(**config["optim"])
        trainer = Trainer(learner, stream, train_cfg, run_dir, make_eval, stream.ceilings(), optim)
    except ValueError as err:  # values that pass type checks but not the learner's or task's own
        raise ConfigError(f"invalid config value: {err}") from err
    ceilings = trainer.ceilings
    if resume:
        trainer.resume(Path(run_dir) / checkpoint if checkpoint else None, truncate_log=not read_only)
        if not read_only:
            _note_resume(Path(run_dir), config, command, trainer.step, train_cfg.device)
    else:
        meta = {"experiment": experiment, "command": command, "config": config,
                "parameters": count_parameters(learner), "ceilings": ceilings,
                **environment(train_cfg.device)}
        save_json(meta, Path(run_dir) / "config.json")
    return Run(trainer, config, ceilings)


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


def _check_fresh_run_dir(run_dir: Path) -> None:
    """A new run may not overwrite one that can be resumed or has finished; a folder left by an
    attempt killed before its first checkpoint is reused, its metrics log started afresh (rows
    from the killed attempt would otherwise precede the new run's in the curves)."""
    for name in ("checkpoint.pt", "summary.json"):
        if (run_dir / name).exists():
            raise ConfigError(f"{run_dir} already holds a run ({name}); continue it with `nobptt train "
                              f"--resume {run_dir}` or choose another --run-dir")
    (run_dir / "metrics.jsonl").unlink(missing_ok=True)


def _note_resume(run_dir: Path, config: dict[str, dict[str, Any]], command: str, step: int, device: str) -> None:
    """Keep a resumed run's provenance in its config.json: "config" becomes the one now in effect
    (a resume may extend train.steps), "command" stays the first, and "resumed" lists each resume
    with its command, the step it continued from and the machine and commit it ran on."""
    meta = read_run_config(run_dir)
    meta["config"] = config
    meta.setdefault("resumed", []).append({"command": command, "at_step": step, **environment(device)})
    save_json(meta, run_dir / "config.json")


def read_run_config(run_dir: Path) -> dict[str, Any]:
    """A run folder's config.json; its "config" in the current layout (``upgrade_config``: run
    folders written before ``[optim]`` existed keep loading)."""
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise ConfigError(f"{path} not found: {run_dir} is not a run folder made by `nobptt train`")
    meta = json.loads(path.read_text())
    if isinstance(meta.get("config"), dict):
        meta["config"] = upgrade_config(meta["config"], str(path))
    return meta
