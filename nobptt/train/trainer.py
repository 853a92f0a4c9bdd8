"""A generic streaming trainer. It knows nothing about any learner beyond ``learners.base``.

Every step: take the next batch of B parallel streams, let the learner predict and write its
gradients (``Learner.learn``), score the prediction *before* the update (prequential accuracy, as
the bRSM paper reports its curves), and apply the optimizer when the learner says an update is
ready, after clipping its gradients (``nobptt.train.clipping``, as ``[optim]`` says). Every epoch
a metrics row is logged; every ``eval_every`` steps the learner is evaluated, without learning, on
a held-out stream that is rebuilt identically each time (``nobptt.train.evaluation``).
"""
from __future__ import annotations

import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from nobptt.errors import DivergedError  # noqa: F401  (re-exported)
from nobptt.learners.base import Learner
from nobptt.tasks.base import Stream
from nobptt.train.checkpoint import load_checkpoint, save_checkpoint, save_json
from nobptt.train.clipping import Clipper
from nobptt.train.config import TrainConfig
from nobptt.train import faults
from nobptt.train.evaluation import evaluate
from nobptt.train.metrics import MetricsLog, RunningMean, first_non_finite
from nobptt.train.files import BEST, CHECKPOINT, DIVERGED, SUMMARY
from nobptt.train.optim import OptimConfig, decay_learning_rate, decays_done, make_optimizer

BEST_METRICS = {"heldout_nll": min, "heldout_accuracy": max, "heldout_mse": min, "heldout_bce": min}
# Divergence that stays finite: a logged scalar beyond OVERFLOW, or an epoch's mean loss above
# EXPLOSION_FACTOR x the median of the last HISTORY epochs' means of that loss (the median, not the
# mean, so that one bad epoch does not raise the bar). Losses near zero are measured against
# LOSS_FLOOR, so that 1e-6 -> 1e-3 is not called an explosion.
OVERFLOW = 1e15
EXPLOSION_FACTOR = 1e3
LOSS_FLOOR = 1e-2
HISTORY = 20
# gate_open: the Phased LSTM's open fraction (nobptt/cells/plstm.py), a diagnostic that may rise as
# the open ratios are learned, not a loss the divergence rules should watch
NOT_LOSSES = ("step", "wall_time_s", "prequential_accuracy", "heldout_accuracy", "gate_open")
# Divergence that stays finite and moderate: an epoch loss above UNTRAINED_FACTOR x the untrained
# model's (the first epoch's mean of that loss, floored at LOSS_FLOOR) for UNTRAINED_EPOCHS epochs
# in a row. Training lowers a loss from its first epoch; a model that stays twice as bad as it was
# untrained for 10 epochs (1,000 ssMNIST batches) has left the region where it learns. In the 269
# curves kept in results/ (ssMNIST, PTB word and char, copying, adding) no later epoch exceeds
# 1.04 x the first (tests/test_reliability.py checks that none trips the rule); a burst of a few
# epochs, which clipping recovers from (docs/sab.md), is left alone by asking for 10 in a row.
UNTRAINED_FACTOR = 2.0
UNTRAINED_EPOCHS = 10
# Logged beside the losses, and watched only for non-finite or overflowing values: they may grow as a
# model learns. A gradient norm rises by orders of magnitude when a model leaves a plateau (copying
# by full BPTT at T = 300: 0.0012 -> 11 at update 4,260, clipped to 1, loss unchanged), which the
# relative rule above called an explosion and stopped the run.
NOT_TRAINED_LOSSES = ("grad_norm", "clipped")


def epoch_losses(row: dict[str, Any]) -> list[tuple[str, float]]:
    """The training losses of a metrics row, the values the divergence rules watch: its numbers
    other than the step, times, accuracies, per-epoch maxima and held-out scores."""
    return [(key, float(value)) for key, value in row.items()
            if key not in NOT_LOSSES and not key.endswith("_max") and not key.startswith("heldout_")
            and isinstance(value, (int, float)) and not isinstance(value, bool)]


def explosion(row: dict[str, Any], history: dict[str, list[float]]) -> str | None:
    """What in a metrics ``row`` says training has diverged (None: nothing): a non-finite or
    overflowing value, or an epoch loss far above its recent range (``history``: the previous
    epochs' values of each loss, oldest first)."""
    import math
    import statistics

    for key, value in row.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                return f"non-finite {key} ({value})"
            if abs(value) > OVERFLOW:
                return f"{key} {value:.3g} (beyond {OVERFLOW:.0e})"
    for key, value in epoch_losses(row):
        past = history.get(key)
        if not past or key.startswith(NOT_TRAINED_LOSSES):
            continue
        median = statistics.median(past)
        if value > EXPLOSION_FACTOR * max(median, LOSS_FLOOR):
            return (f"{key} {value:.4g}, over {EXPLOSION_FACTOR:.0e} x its median {median:.4g} over the "
                    f"last {len(past)} epochs")
    return None


def above_untrained(row: dict[str, Any], untrained: dict[str, float], above: dict[str, int]) -> str | None:
    """The untrained-loss rule on an epoch ``row``: ``untrained`` holds each loss's first-epoch mean
    (filled from the first row seen), ``above`` how many epochs in a row each has been above
    UNTRAINED_FACTOR x it (updated). Returns what has stayed too high for UNTRAINED_EPOCHS, or None."""
    for key, value in epoch_losses(row):
        if key.startswith(NOT_TRAINED_LOSSES):
            continue
        if key not in untrained:
            untrained[key] = float(value)
            continue
        bar = UNTRAINED_FACTOR * max(untrained[key], LOSS_FLOOR)
        above[key] = above.get(key, 0) + 1 if value > bar else 0
        if above[key] >= UNTRAINED_EPOCHS:
            return (f"{key} {value:.4g}, above {UNTRAINED_FACTOR:g} x the untrained model's {untrained[key]:.4g} "
                    f"(its first epoch) for {above[key]} epochs in a row")
    return None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    def __init__(self, learner: Learner, stream: Stream, config: TrainConfig, run_dir: Path,
                 make_eval_stream: Callable[[], Stream] | None = None,
                 ceilings: dict[str, float] | None = None, optim: OptimConfig | None = None) -> None:
        self.learner, self.stream, self.config = learner, stream, config
        self.optim = optim or OptimConfig()
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.make_eval_stream = make_eval_stream
        self.ceilings = ceilings or {}
        self.device = torch.device(config.device)
        self.learner.to(self.device)
        self.optimizer = make_optimizer(learner, self.optim)
        self.clipper = Clipper(self.optim, learner).to(self.device)
        self.state = learner.initial_state(stream.batch_size, self.device)
        if config.best_metric and config.best_metric not in BEST_METRICS:
            raise ValueError(f"train.best_metric={config.best_metric!r} must be one of {sorted(BEST_METRICS)} or ''")
        if config.patience and not config.best_metric:
            raise ValueError(f"train.patience={config.patience} needs train.best_metric (the metric it watches); "
                             f"set it (e.g. --set train.best_metric=heldout_nll) or set train.patience=0")
        self.step, self.wall_time_s = 0, 0.0
        self.best: dict[str, Any] = {}  # {"step", metric: value} of best.pt
        # held-out evaluations since the best one, and the step early stopping ended the run at
        self.early_stop: dict[str, Any] = {"stale": 0, "stopped_at": None}
        self.loss_history: dict[str, list[float]] = {}  # recent epoch means, for ``explosion``
        self.untrained: dict[str, float] = {}  # first-epoch losses and epochs above them, for ``above_untrained``
        self.above_untrained: dict[str, int] = {}
        self.epoch = RunningMean()
        self.log = MetricsLog(self.run_dir / "metrics.jsonl")
        # the command a divergence message offers (a resume that raised train.steps names them)
        self.resume_hint = f"nobptt train --resume {self.run_dir}"
        self.checkpoint_config: dict[str, Any] = {}  # the [train] config the loaded checkpoint ran with
        # called once, after the next checkpoint is written (a resume records its config then)
        self.after_first_save: Callable[[], None] | None = None

    # -- checkpoints ---------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT

    def save(self, path: Path | None = None) -> None:
        save_checkpoint({
            "step": self.step, "wall_time_s": self.wall_time_s, "config": asdict(self.config),
            "optim": asdict(self.optim),
            "learner": self.learner.state_dict(), "optimizer": self.optimizer.state_dict(),
            "clipping": self.clipper.state_dict(),
            "learner_state": self.state, "stream": self.stream.state_dict(),
            "epoch_sums": (self.epoch.sums, self.epoch.counts, self.epoch.maxima),
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                    "python": random.getstate()},
            "best": self.best, "early_stop": self.early_stop, "loss_history": self.loss_history,
            "untrained": {"losses": self.untrained, "above": self.above_untrained},
        }, path or self.checkpoint_path, keep_previous=path is None or path == self.checkpoint_path)
        if self.after_first_save is not None and (path is None or path == self.checkpoint_path):
            note, self.after_first_save = self.after_first_save, None
            note()

    def resume(self, path: Path | None = None, truncate_log: bool = True) -> None:
        """Continue exactly where the last checkpoint (or the one at ``path``) left off.

        ``truncate_log`` drops the metrics rows logged after the checkpoint (work a continued run
        will redo); pass False to load a checkpoint only to read or evaluate it."""
        ckpt = load_checkpoint(path or self.checkpoint_path, self.device)
        if "clipping" in ckpt:
            self.learner.load_state_dict(ckpt["learner"])
            self.clipper.load_state_dict(ckpt["clipping"])
        else:  # written before the clips moved out of the learners: their buffers are mapped over
            self.learner.load_state_dict(self.clipper.adopt_old_learner_state(ckpt["learner"]))
        configured = [{k: group[k] for k in ("lr", "betas", "eps") if k in group}
                      for group in self.optimizer.param_groups]
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.state = ckpt["learner_state"]
        self.stream.load_state_dict(ckpt["stream"])
        # checkpoints written before the maxima were kept hold (sums, counts)
        self.epoch.sums, self.epoch.counts, *maxima = ckpt["epoch_sums"]
        self.epoch.maxima = maxima[0] if maxima else {}
        self.step, self.wall_time_s = ckpt["step"], ckpt["wall_time_s"]
        self.checkpoint_config = ckpt.get("config", {})
        self.best = ckpt.get("best", {})
        self.early_stop = ckpt.get("early_stop", {"stale": 0, "stopped_at": None})  # absent before patience
        if self.stopped_early and not 0 < self.config.patience <= self.early_stop["stale"]:
            self.early_stop["stopped_at"] = None  # resumed with more patience (or none): it goes on
        self.loss_history = ckpt.get("loss_history", {})  # absent before divergence had a history
        untrained = ckpt.get("untrained", {})  # absent before the untrained-loss rule: it starts afresh
        self.untrained, self.above_untrained = untrained.get("losses", {}), untrained.get("above", {})
        # The optimizer's saved state carries the learning rate (and Adam's betas and eps) it had;
        # set them from the config in effect instead, so a resume that changes optim.lr, the decay
        # schedule (for example, to anneal a finished run) or optim.adam_* trains with what its
        # config.json says. Unchanged config: the same values.
        factor = self.optim.lr_decay ** decays_done(self.optim, self.step)
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
        if out.update:  # clipped before the non-finite check, which then sees the gradient norm
            out.losses.update(self.clipper.clip())
        bad = first_non_finite(out.losses)
        if bad is not None or (out.logits is not None and not bool(torch.isfinite(out.logits).all())):
            self._diverged(bad or "logits")
        if out.update:
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        decay_learning_rate(self.optimizer, self.optim, self.step + 1)
        # regression outputs are not logits, and Bernoulli targets have no label to be accurate on
        if out.logits is not None and batch.target_value is None and batch.target_prob is None:
            if batch.weight is None:
                hits = (out.logits.argmax(dim=-1) == batch.target_label).float()
                self.epoch.add("prequential_accuracy", hits.sum().item(), batch.target_label.numel())
            else:  # padding (weight 0, e.g. per-sentence PTB's padded batches) is not a prediction
                scored = batch.weight.sum().item()
                if scored:  # a step that scores nothing adds 0 of 0 (most of a frequency-task episode)
                    hits = (out.logits.argmax(dim=-1) == batch.target_label).float()
                    self.epoch.add("prequential_accuracy", (hits * batch.weight).sum().item(), scored)
        for name, value in out.losses.items():
            self.epoch.add(name, value)
        self.step += 1

    def _diverged(self, what: str, step: int | None = None) -> None:
        what = what if " " in what else f"non-finite {what}"
        if self.checkpoint_path.exists():
            advice = (f"the last good checkpoint is {self.checkpoint_path}. Lower the learning rate (e.g. "
                      f"--set optim.lr=...) and resume with `{self.resume_hint}` (config.json holds the "
                      f"last config that worked) or start again.")
        else:  # nothing to resume from
            advice = (f"no checkpoint was written yet, so there is nothing to resume. Start again in a new "
                      f"run folder with a lower learning rate (e.g. --set optim.lr=...).")
        message = f"training diverged: {what} at step {step or self.step + 1}; {advice}"
        # the run folder says so too: a sweep counts a diverged point as an outcome (it does not rerun
        # it, and leaves it out of the choice) rather than as an unfinished run (nobptt/sweep/plan.py)
        save_json({"step": step or self.step + 1, "what": what, "message": message}, self.run_dir / DIVERGED)
        raise DivergedError(message)

    def _check_divergence(self, row: dict[str, Any]) -> None:
        bad = explosion(row, self.loss_history)
        if bad is not None:
            self._diverged(bad, self.step)
        if self.step % self.config.epoch_steps == 0:  # an epoch row: its means join the history
            bad = above_untrained(row, self.untrained, self.above_untrained)
            if bad is not None:
                self._diverged(bad, self.step)
            for key, value in epoch_losses(row):
                self.loss_history[key] = (self.loss_history.get(key, []) + [value])[-HISTORY:]

    def evaluate(self) -> dict[str, float]:
        """``evaluation.evaluate`` on a freshly built evaluation stream ({} without one)."""
        if self.make_eval_stream is None:
            return {}
        return evaluate(self.learner, self.make_eval_stream(), self.config.eval_warmup,
                        self.config.eval_steps, self.device)

    def _keep_best(self, row: dict[str, Any]) -> None:
        metric = self.config.best_metric
        if not metric or metric not in row:
            return
        better = BEST_METRICS[metric]
        if not self.best or better(row[metric], self.best[metric]) != self.best[metric]:
            self.best = {"step": self.step, metric: row[metric]}
            self.early_stop["stale"] = 0
            self.save(self.run_dir / BEST)
        else:
            self.early_stop["stale"] += 1
            if self.config.patience and self.early_stop["stale"] >= self.config.patience:
                self.early_stop["stopped_at"] = self.step

    @property
    def stopped_early(self) -> bool:
        return self.early_stop.get("stopped_at") is not None

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
        # the summary is every logged row merged, later ones winning: start from the rows already
        # logged (a resumed run's, up to its checkpoint), so a resumed run's summary is the
        # uninterrupted run's, and a run killed before its summary.json gets it on resume
        last: dict[str, Any] = {}
        for logged in self.log.rows():
            last.update(logged)
        self.learner.train()
        while self.step < cfg.steps and not self.stopped_early:
            started = time.perf_counter()
            self.train_step()
            self.wall_time_s += time.perf_counter() - started
            faults.hit("step")  # fault injection (nobptt.train.faults); nothing when NOBPTT_FAULT is unset
            row: dict[str, Any] = {}
            if self.step % cfg.epoch_steps == 0:
                row = self._end_epoch()
            due = cfg.eval_every and self.step % cfg.eval_every == 0 and self.step >= cfg.eval_from_step
            if due or self.step == cfg.steps:
                row = {"step": self.step, "wall_time_s": round(self.wall_time_s, 3), **row,
                       **self.evaluate()}
                self._keep_best(row)
                if self.stopped_early:
                    row["stopped_early"] = True
            if row:  # checked before it is logged or checkpointed: the checkpoint stays the good one
                self._check_divergence(row)
                self.log.write(row)
                last.update(row)
                if progress:
                    progress(self.step, row)
            if ((cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0) or self.step == cfg.steps
                    or self.stopped_early):
                self.save()
            elif progress and not row:
                progress(self.step, {})
        save_json(last, self.run_dir / SUMMARY)
        return last
