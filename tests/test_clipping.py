"""Gradient clipping by the trainer (nobptt.train.clipping): the same numbers as when the learners
clipped inside ``learn``, the adaptive clips' state in checkpoints, old checkpoints mapped."""
import math

import pytest
import torch

from nobptt.errors import ConfigError
from nobptt.learners.registry import build_learner, get_learner_spec
from nobptt.learners.sab import SABConfig, SABLearner
from nobptt.tasks.base import Batch
from nobptt.tasks.episodes import EpisodeStream
from nobptt.train.clipping import Clipper, ClipWarmup, MedianClip, clip_gradients
from nobptt.train.config import TrainConfig
from nobptt.train.optim import OptimConfig, make_optimizer
from nobptt.train.trainer import Trainer
from toy import CycleStream

H, A = 6, 4


def as_double(batch):
    return Batch(**{k: (v.double() if torch.is_tensor(v) and v.is_floating_point() else v)
                    for k, v in vars(batch).items()})


def episode(T=4, batch_size=3, seed=0):
    """One copying episode (T+20 steps) in float64."""
    stream = EpisodeStream("copying", T, batch_size, seed)
    return [as_double(stream.next_batch()) for _ in range(stream.episode_length)]


def sab(**options):
    torch.manual_seed(0)
    return SABLearner(SABConfig(hidden=H, attn_dim=A, **options), 10, 10).double()


def learn_episode(model, steps, clipper):
    """Learn one episode, clipping at its update as the trainer does."""
    state = model.initial_state(steps[0].x.shape[0], "cpu")
    state = {k: (v.double() if torch.is_tensor(v) else v) for k, v in state.items()}
    for batch in steps:
        state, out = model.learn(state, batch)
        if out.update:
            out.losses.update(clipper.clip())
    return out


def grad_norm(model):
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]).norm().item()


def clipper(model, **optim):
    return Clipper(OptimConfig(**{**get_learner_spec("sab").optim, **optim}), model)


# -- the reference: the clip as the learners applied it inside learn() before the move ---------------
# Checked against the code before the move (the learners clipping themselves): identical
# parameters and logs over the same updates for both SAB settings and the LSTM below.

def reference_clip(parameters, parts, optim: OptimConfig, history):
    """Part norms, then the warm-up's limit (else grad_clip; 0 = none), capped by the median of the
    last grad_clip_window pre-clip norms times grad_clip_median once that many were seen; the
    global clip; the norm recorded if finite; the update counted."""
    logs = {}
    for name, part in parts.items():
        grads = [p.grad.detach().flatten() for p in part.parameters() if p.grad is not None]
        logs[f"grad_norm_{name}"] = float(torch.cat(grads).norm()) if grads else 0.0
    limit = optim.grad_clip_early if history["updates"] < optim.grad_clip_early_updates else optim.grad_clip
    limit = limit if limit > 0 else math.inf
    if optim.grad_clip_median and len(history["norms"]) >= optim.grad_clip_window:
        window = torch.tensor(history["norms"][-optim.grad_clip_window:], dtype=torch.float64)
        limit = min(limit, optim.grad_clip_median * float(window.median()))
    norm = float(torch.nn.utils.clip_grad_norm_(list(parameters), limit))
    if optim.grad_clip_median and math.isfinite(norm):
        history["norms"].append(norm)
    history["updates"] += 1
    return {**logs, "grad_norm": norm, "clipped": float(norm > limit)}


class DoubleStream:
    def __init__(self, stream):
        self.stream = stream
        self.batch_size, self.input_dim, self.n_classes = stream.batch_size, stream.input_dim, stream.n_classes

    def next_batch(self):
        return as_double(self.stream.next_batch())

    def ceilings(self):
        return {}

    def state_dict(self):
        return {}


def run_reference(name, model, optim, stream, steps, parts, params):
    torch.manual_seed(0)
    learner = build_learner(name, model, stream.input_dim, stream.n_classes).double()
    optimizer = make_optimizer(learner, optim)
    state = learner.initial_state(stream.batch_size, "cpu")
    history, logs = {"norms": [], "updates": 0}, []
    for _ in range(steps):
        state, out = learner.learn(state, stream.next_batch())
        if out.update:
            logs.append({**out.losses, **reference_clip(params(learner), parts(learner), optim, history)})
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return [p.detach() for p in learner.parameters()], logs


def run_trainer(name, model, optim, stream, steps, per_update, tmp_path):
    torch.manual_seed(0)
    learner = build_learner(name, model, stream.input_dim, stream.n_classes).double()
    cfg = TrainConfig(steps=steps, epoch_steps=per_update, eval_every=0, checkpoint_every=0, progress=False,
                      log_max="")
    trainer = Trainer(learner, stream, cfg, tmp_path, optim=optim)
    trainer.run()
    rows = [r for r in trainer.log.path.read_text().splitlines()]
    return [p.detach() for p in learner.parameters()], rows


@pytest.fixture
def float64():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


CASES = {
    # SAB with both adaptive clips binding: the warm-up's 0.3 for 2 updates, then a median clip at
    # 0.9x the median of the last 2 norms (grad_clip 0: the median alone); 6 episode updates
    "sab_blockwise": ("sab", dict(hidden=H, attn_dim=A), dict(grad_clip=0.0, grad_clip_median=0.9, grad_clip_window=2,
                                                                grad_clip_early=0.3, grad_clip_early_updates=2)),
    "sab_onegraph": ("sab", dict(hidden=H, attn_dim=A, blockwise=False),
                     dict(grad_clip=0.0, grad_clip_median=0.9, grad_clip_window=2, grad_clip_early=0.3,
                          grad_clip_early_updates=2)),
    # the LSTM clips its cell only, at 0.05 (every update clipped)
    "lstm": ("lstm", dict(hidden=6, k1=3, k2=3, classifier_hidden=8), dict(grad_clip=0.05)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_trainer_clips_exactly_as_the_learners_did(case, tmp_path, float64):
    import json

    name, model, clip = CASES[case]
    optim = OptimConfig(**{**get_learner_spec(name).optim, **clip})
    if name == "sab":
        make_stream, steps, per_update = (lambda: DoubleStream(EpisodeStream("copying", 4, 3, 0))), 6 * 24, 24
        parts = lambda m: {"lstm": m.cell, "head": m.head, **({"attention": m.scorer} if m.attend else {})}  # noqa: E731
        params = lambda m: m.parameters()  # noqa: E731
    else:
        make_stream, steps, per_update = (lambda: DoubleStream(CycleStream())), 30, 3
        parts, params = (lambda m: {}), (lambda m: m.cell.parameters())
    expected, logs = run_reference(name, model, optim, make_stream(), steps, parts, params)
    got, rows = run_trainer(name, model, optim, make_stream(), steps, per_update, tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(expected, got))
    rows = [json.loads(r) for r in rows]
    assert len(rows) == len(logs)
    for row, log in zip(rows, logs):
        assert {k: row[k] for k in log} == log
    assert {log["clipped"] for log in logs} == {1.0}  # the clips bound (else the test shows little)


# -- the clipper's behaviour ---------------------------------------------------------------------------
def test_the_logged_gradient_norm_is_the_norm_before_clipping():
    steps = episode()
    free = sab()
    logged = learn_episode(free, steps, clipper(free, grad_clip=0.0)).losses
    norm = grad_norm(free)
    assert logged["grad_norm"] == pytest.approx(norm) and logged["clipped"] == 0.0
    clipped = sab()
    logged = learn_episode(clipped, steps, clipper(clipped, grad_clip=norm / 2)).losses
    assert logged["grad_norm"] == pytest.approx(norm) and logged["clipped"] == 1.0
    assert grad_norm(clipped) == pytest.approx(norm / 2, rel=1e-5)  # clip_grad_norm_ adds 1e-6


def test_part_gradient_norms_split_the_global_norm_before_clipping():
    steps = episode()
    for attention in ("sparse", "none"):
        model = sab(attention=attention)
        logged = learn_episode(model, steps, clipper(model, grad_clip=1e-3)).losses
        parts = {k: v for k, v in logged.items() if k.startswith("grad_norm_")}
        assert set(parts) == {"grad_norm_lstm", "grad_norm_head"} | ({"grad_norm_attention"} if attention != "none" else set())
        assert all(v > 0 for v in parts.values())
        # the parts are disjoint and cover every parameter: their squares add up to the global
        # norm's, which was taken before the clip (every update here is clipped)
        assert logged["clipped"] == 1.0
        assert sum(v ** 2 for v in parts.values()) == pytest.approx(logged["grad_norm"] ** 2, rel=1e-6)


def test_median_clip_clips_bursts_only_once_its_window_is_full():
    clip, weight = MedianClip(factor=2.0, window=3), torch.nn.Parameter(torch.zeros(1, dtype=torch.double))

    def update(norm):
        weight.grad = torch.full_like(weight, norm)
        return clip_gradients([weight], 0.0, clip), float(weight.grad.abs())

    for norm in (1.0, 100.0, 1.0):  # the window is not full yet: nothing is clipped
        assert update(norm) == ({"grad_norm": norm, "clipped": 0.0}, norm)
    logged, after = update(3.0)  # median of (1, 100, 1) is 1: limit 2
    assert logged == {"grad_norm": 3.0, "clipped": 1.0} and after == pytest.approx(2.0, rel=1e-5)
    logged, after = update(2.5)  # the history holds pre-clip norms: (100, 1, 3), median 3, limit 6
    assert logged["clipped"] == 0.0 and after == 2.5
    weight.grad = torch.full_like(weight, 5.0)
    assert clip_gradients([weight], 1.0, clip)["clipped"] == 1.0 and float(weight.grad) == pytest.approx(1.0, rel=1e-5)
    with pytest.raises(ValueError, match="factor > 0"):
        MedianClip(factor=0.0, window=3)


def test_clip_warmup_switches_to_the_run_clip_after_its_updates_and_resumes_there():
    steps = episode()
    warm_options = dict(grad_clip=1e-6, grad_clip_early=0.0, grad_clip_early_updates=2)
    model = sab()
    assert not any("clip_warmup" in k for k in clipper(model).state_dict())  # off: no keys
    warm = clipper(model, **warm_options)
    clipped = []
    for _ in range(2):
        model.zero_grad()
        clipped.append(learn_episode(model, steps, warm).losses["clipped"])
    assert clipped == [0.0, 0.0]  # the warm-up's limit: 0 = no clipping
    resumed = clipper(model, **warm_options)
    resumed.load_state_dict(warm.state_dict())
    assert int(resumed.clip_warmup.seen) == 2
    model.zero_grad()
    out = learn_episode(model, steps, resumed)  # the third update: grad_clip applies
    assert out.losses["clipped"] == 1.0 and grad_norm(model) == pytest.approx(1e-6, rel=1e-4)
    assert ClipWarmup(0.5, 1).max_norm(2.0) == 0.5
    with pytest.raises(ConfigError, match="grad_clip_early_updates"):
        OptimConfig(grad_clip_early_updates=-1)
    with pytest.raises(ConfigError, match="grad_clip_early"):
        OptimConfig(grad_clip_early=-1.0, grad_clip_early_updates=3)


def test_median_clip_history_travels_in_the_checkpoint_and_old_checkpoints_are_mapped(tmp_path):
    model, steps = sab(), episode()
    median = clipper(model, grad_clip_median=2.0, grad_clip_window=2)
    for _ in range(3):
        learn_episode(model, steps, median)
    resumed = clipper(model, grad_clip_median=2.0, grad_clip_window=2)
    resumed.load_state_dict(median.state_dict())
    assert int(resumed.median_clip.seen) == 3 and resumed.median_clip.limit() == median.median_clip.limit() < float("inf")
    with pytest.raises(ConfigError, match="grad_clip_median"):
        OptimConfig(grad_clip_median=-1.0)

    # a checkpoint written when the clip was a learner module: its buffers were learner keys
    optim = OptimConfig(**{**get_learner_spec("sab").optim, "grad_clip_median": 2.0, "grad_clip_window": 2})
    stream = EpisodeStream("copying", 4, 3, 0)
    trainer = Trainer(SABLearner(SABConfig(hidden=H, attn_dim=A), 10, 10), stream, TrainConfig(progress=False),
                      tmp_path, optim=optim)
    trainer.save()
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    old_keys = {f"median_clip.{k}": v for k, v in median.median_clip.state_dict().items()}
    ckpt["learner"].update(old_keys)
    del ckpt["clipping"]
    torch.save(ckpt, tmp_path / "checkpoint.pt")
    (tmp_path / "checkpoint.pt.sha256").unlink()  # such checkpoints were written without checksums
    trainer.resume()
    assert int(trainer.clipper.median_clip.seen) == 3
    assert torch.equal(trainer.clipper.median_clip.norms, median.median_clip.norms)
