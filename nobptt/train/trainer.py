"""A generic streaming trainer. It knows nothing about any learner beyond ``learners.base``.

Every step: take the next batch of B parallel streams, let the learner predict and write its
gradients (``Learner.learn``), score the prediction *before* the update (prequential accuracy, as
the bRSM paper reports its curves), and apply the optimizer when the learner says an update is
ready. Every epoch a metrics row is logged; every ``eval_every`` steps the learner is evaluated,
without learning, on a held-out stream that is rebuilt identically each time.
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from nobptt.config import TrainConfig
from nobptt.errors import DivergedError  # noqa: F401  (re-exported)
from nobptt.learners.base import Learner
from nobptt.tasks.base import Stream
from nobptt.train.checkpoint import load_checkpoint, save_checkpoint
from nobptt.train.metrics import MetricsLog, RunningMean, first_non_finite

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
BEST_METRICS = {"heldout_nll": min, "heldout_accuracy": max, "heldout_mse": min}




def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


OPTIMIZERS = ("adam", "sgd")


def make_optimizer(learner: Learner, name: str = "adam", beta2: float = 0.999,
                   eps: float = 1e-8) -> torch.optim.Optimizer:
    """Adam (or plain SGD) over the learner's parameter groups; the fused kernel where torch has one.

    With one small update per time step, Adam's element-wise arithmetic is about a third of a
    bRSM step on a CPU; the fused implementation (same maths) removes most of it. ``beta2`` and
    ``eps`` are Adam's (train.adam_beta2, train.adam_eps); beta1 stays torch's 0.9.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"train.optimizer={name!r} must be one of {OPTIMIZERS}")
    if not 0.0 <= beta2 < 1.0 or eps <= 0.0:
        raise ValueError(f"train.adam_beta2={beta2} must be in [0, 1) and train.adam_eps={eps} > 0")
    cls = torch.optim.Adam if name == "adam" else torch.optim.SGD
    extra = {"betas": (0.9, beta2), "eps": eps} if name == "adam" else {}
    try:
        return cls(learner.param_groups(), fused=True, **extra)
    except (RuntimeError, TypeError, ValueError):
        return cls(learner.param_groups(), **extra)


class Trainer:
    def __init__(self, learner: Learner, stream: Stream, config: TrainConfig, run_dir: Path,
                 make_eval_stream: Callable[[], Stream] | None = None,
                 ceilings: dict[str, float] | None = None) -> None:
        self.learner, self.stream, self.config = learner, stream, config
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.make_eval_stream = make_eval_stream
        self.ceilings = ceilings or {}
        self.device = torch.device(config.device)
        self.learner.to(self.device)
        self.optimizer = make_optimizer(learner, config.optimizer, config.adam_beta2, config.adam_eps)
        self.state = learner.initial_state(stream.batch_size, self.device)
        if config.best_metric and config.best_metric not in BEST_METRICS:
            raise ValueError(f"train.best_metric={config.best_metric!r} must be one of {sorted(BEST_METRICS)} or ''")
        self.step, self.wall_time_s = 0, 0.0
        self.best: dict[str, Any] = {}  # {"step", metric: value} of best.pt
        self.epoch = RunningMean()
        self.log = MetricsLog(self.run_dir / "metrics.jsonl")

    # -- checkpoints ---------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT

    def save(self, path: Path | None = None) -> None:
        save_checkpoint({
            "step": self.step, "wall_time_s": self.wall_time_s, "config": asdict(self.config),
            "learner": self.learner.state_dict(), "optimizer": self.optimizer.state_dict(),
            "learner_state": self.state, "stream": self.stream.state_dict(),
            "epoch_sums": (self.epoch.sums, self.epoch.counts, self.epoch.maxima),
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                    "python": random.getstate()},
            "best": self.best,
        }, path or self.checkpoint_path)

    def resume(self, path: Path | None = None, truncate_log: bool = True) -> None:
        """Continue exactly where the last checkpoint (or the one at ``path``) left off.

        ``truncate_log`` drops the metrics rows logged after the checkpoint (work a continued run
        will redo); pass False to load a checkpoint only to read or evaluate it."""
        ckpt = load_checkpoint(path or self.checkpoint_path, self.device)
        self.learner.load_state_dict(ckpt["learner"])
        configured = [{k: group[k] for k in ("lr", "betas", "eps") if k in group}
                      for group in self.optimizer.param_groups]
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.state = ckpt["learner_state"]
        self.stream.load_state_dict(ckpt["stream"])
        # checkpoints written before the maxima were kept hold (sums, counts)
        self.epoch.sums, self.epoch.counts, *maxima = ckpt["epoch_sums"]
        self.epoch.maxima = maxima[0] if maxima else {}
        self.step, self.wall_time_s = ckpt["step"], ckpt["wall_time_s"]
        self.best = ckpt.get("best", {})
        # The optimizer's saved state carries the learning rate (and Adam's betas and eps) it had;
        # set them from the config in effect instead, so a resume that changes model.lr, the decay
        # schedule (for example, to anneal a finished run) or train.adam_* trains with what its
        # config.json says. Unchanged config: the same values.
        factor = self.config.lr_decay ** self._decays_done(self.step)
        for group, values in zip(self.optimizer.param_groups, configured):
            group.update(values)
            group["lr"] = values["lr"] * factor
        torch.set_rng_state(ckpt["rng"]["torch"].cpu())
        np.random.set_state(ckpt["rng"]["numpy"])
        random.setstate(ckpt["rng"]["python"])
        if truncate_log:
            self.log.truncate_after(self.step)

    # -- training ------------------------------------------------------------------------------
    def train_step(self) -> None:
        batch = self.stream.next_batch().to(self.device)
        self.state, out = self.learner.learn(self.state, batch)
        bad = first_non_finite(out.losses)
        if bad is not None or (out.logits is not None and not bool(torch.isfinite(out.logits).all())):
            self._diverged(bad or "logits")
        if out.update:
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        self._decay_learning_rate()
        if out.logits is not None and batch.target_value is None:  # regression outputs are not logits
            correct = (out.logits.argmax(dim=-1) == batch.target_label).sum().item()
            self.epoch.add("prequential_accuracy", correct, batch.target_label.numel())
        for name, value in out.losses.items():
            self.epoch.add(name, value)
        self.step += 1

    def _decay_learning_rate(self) -> None:
        """``lr_decay`` at steps lr_decay_from, + lr_decay_every, ... (counted after this step)."""
        cfg, done = self.config, self.step + 1
        if cfg.lr_decay_every and done >= cfg.lr_decay_from and (done - cfg.lr_decay_from) % cfg.lr_decay_every == 0:
            for group in self.optimizer.param_groups:
                group["lr"] *= cfg.lr_decay

    def _decays_done(self, steps: int) -> int:
        """How many times ``_decay_learning_rate`` has decayed the lr after ``steps`` steps."""
        every = self.config.lr_decay_every
        first = self.config.lr_decay_from or every  # the first step count it fires at
        return 0 if not every or steps < first else (steps - first) // every + 1

    def _diverged(self, what: str) -> None:
        where = (f"the last good checkpoint is {self.checkpoint_path}"
                 if self.checkpoint_path.exists() else "no checkpoint was written yet")
        raise DivergedError(
            f"training diverged: non-finite {what} at step {self.step + 1}; {where}. Lower the "
            f"learning rate (e.g. --set model.lr=...) and resume with `nobptt train --resume "
            f"{self.run_dir}` or start again.")

    def evaluate(self) -> dict[str, float]:
        """Held-out accuracy and mean negative log-likelihood (nats per target), or, for regression
        targets (``batch.target_value``), the mean squared error per target: a fresh state on a
        freshly built evaluation stream, no learning. A finite stream (``length``) is read once,
        whole, and its targets are weighted by ``batch.weight``; an endless one for ``eval_steps``
        after ``eval_warmup`` unscored steps."""
        if self.make_eval_stream is None:
            return {}
        stream = self.make_eval_stream()
        state = self.learner.initial_state(stream.batch_size, self.device)
        length = getattr(stream, "length", None)  # streams written before finite ones existed lack it
        warmup = 0 if length else self.config.eval_warmup
        steps = length or self.config.eval_warmup + self.config.eval_steps
        correct = nll = squared = total = 0.0
        regression = False
        self.learner.eval()
        for i in range(steps):
            batch = stream.next_batch().to(self.device)
            state, logits = self.learner.infer(state, batch)
            if i >= warmup:
                weight = batch.weight if batch.weight is not None else torch.ones_like(batch.target_label, dtype=torch.float)
                total += float(weight.sum())
                if batch.target_value is not None:
                    regression = True
                    squared += float((((logits.float() - batch.target_value) ** 2).sum(-1) * weight).sum())
                    continue
                losses = torch.nn.functional.cross_entropy(logits.float(), batch.target_label, reduction="none")
                correct += float(((logits.argmax(dim=-1) == batch.target_label).float() * weight).sum())
                nll += float((losses * weight).sum())
        self.learner.train()
        if regression:
            return {"heldout_mse": squared / total}
        return {"heldout_accuracy": correct / total, "heldout_nll": nll / total}

    def _keep_best(self, row: dict[str, Any]) -> None:
        metric = self.config.best_metric
        if not metric or metric not in row:
            return
        better = BEST_METRICS[metric]
        if not self.best or better(row[metric], self.best[metric]) != self.best[metric]:
            self.best = {"step": self.step, metric: row[metric]}
            self.save(self.run_dir / BEST)

    def _end_epoch(self) -> dict[str, Any]:
        self.learner.on_epoch_end()
        row = {"step": self.step, "wall_time_s": round(self.wall_time_s, 3), **self.epoch.means()}
        wanted = {name.strip() for name in self.config.log_max.split(",")}
        row.update({f"{name}_max": value for name, value in self.epoch.maxima.items() if name in wanted})
        self.epoch.reset()
        return row

    def run(self, progress: Callable[[int, dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Train to ``config.steps``; returns the last metrics row (with held-out accuracy)."""
        cfg = self.config
        last: dict[str, Any] = {}
        self.learner.train()
        while self.step < cfg.steps:
            started = time.perf_counter()
            self.train_step()
            self.wall_time_s += time.perf_counter() - started
            row: dict[str, Any] = {}
            if self.step % cfg.epoch_steps == 0:
                row = self._end_epoch()
            due = cfg.eval_every and self.step % cfg.eval_every == 0 and self.step >= cfg.eval_from_step
            if due or self.step == cfg.steps:
                row = {"step": self.step, "wall_time_s": round(self.wall_time_s, 3), **row,
                       **self.evaluate()}
                self._keep_best(row)
            if row:
                self.log.write(row)
                last.update(row)
                if progress:
                    progress(self.step, row)
            if (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0) or self.step == cfg.steps:
                self.save()
            elif progress and not row:
                progress(self.step, {})
        (self.run_dir / "summary.json").write_text(json.dumps(last, indent=2))
        return last
