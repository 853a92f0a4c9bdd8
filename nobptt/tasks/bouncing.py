"""Bouncing MNIST / Bouncing notMNIST: next-frame prediction of sprites bouncing in a box
(issue 40; docs/bouncing.md). The P-TNCN paper (Ororbia & Mali, TNNLS 2020) names the benchmarks
but not their conventions, so these are ours, chosen after the common "Moving MNIST" generator
(Srivastava et al. 2015):

* canvas ``size`` x ``size`` (64), ``objects`` sprites (2) of ``sprite`` x ``sprite`` pixels (28:
  the glyphs as they are; smaller, e.g. 14 on a 32 canvas, shrinks them by area averaging, for
  fast CPU runs); glyphs from MNIST (``glyphs = "mnist"``) or the notMNIST sample (``"notmnist"``);
* each sprite starts at a uniform integer position inside the canvas, with an integer velocity
  per axis in [-max_speed, max_speed] (4), redrawn while both components are 0 (it must move);
* elastic reflection at the walls: a sprite whose top-left corner p would leave [0, L]
  (L = size - sprite) is mirrored back (p -> -p or 2L - p) and that velocity component flips;
  ``size - sprite >= max_speed`` so one mirror per step suffices;
* pixel values in [0, 1] (uint8 / 255); overlapping sprites are summed and clipped to 1;
* ``frames`` (20) frames per sequence, each sequence drawn from its own seed (``sequence_seeds``),
  so a sequence is a deterministic function of its seed and the glyph pool.

Streams: B synchronised sequences (episodes, as nobptt/tasks/episodes.py): at step t of a sequence
the learner sees x = frame t, flattened (D = size^2), and predicts ``target_prob`` = frame t + 1
(``frames - 1`` steps per sequence); ``reset`` at its first step, ``ends_sequence`` at its last.
Scored per frame by the BCE summed over pixels and by the SSE (tasks.base.bernoulli_scores).

Glyph pools, disjoint between the splits so that held-out and test sequences show unseen glyphs:
MNIST train images 0-54,999 for training, 55,000-59,999 held-out (validation), the 10k MNIST test
images for test; the notMNIST sample (already in random order) split by index 0-7,999 /
8,000-8,999 / 9,000-9,999 (it has exact duplicates: 23 held-out and 10 test images are also
training images; docs/bouncing.md).

``ceilings()``: floors a learner should beat, measured on the stream's own sequences (a finite
stream's whole pass; the first ``REFERENCE_EPISODES`` episodes of an endless one): BCE and SSE per
frame of copying the last frame (probabilities clamped to [FLOOR_EPS, 1 - FLOOR_EPS], else one
newly lit pixel costs infinite BCE) and of predicting the per-pixel mean of the target frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from nobptt.errors import ConfigError
from nobptt.tasks.base import Batch, bernoulli_scores
from nobptt.tasks.registry import register_task
from nobptt.validation import FieldError, check_ranges

GLYPHS = ("mnist", "notmnist")
# glyphs -> split -> (file part, first image, one past the last): disjoint pools (module docstring)
POOLS: dict[str, dict[str, tuple[str, int, int]]] = {
    "mnist": {"train": ("train", 0, 55_000), "heldout": ("train", 55_000, 60_000), "test": ("test", 0, 10_000)},
    "notmnist": {"train": ("sample", 0, 8_000), "heldout": ("sample", 8_000, 9_000), "test": ("sample", 9_000, 10_000)},
}
FLOOR_EPS = 0.01  # the copy-last-frame floor's clamp (module docstring)
REFERENCE_EPISODES = 4  # an endless stream's floors are measured on its first episodes


def glyph_pool(glyphs: str, split: str, data_dir: str | None = None, download: bool = True) -> torch.Tensor:
    """The uint8 (N, 28, 28) images sprites of ``split`` are drawn from (``POOLS``)."""
    part, start, stop = POOLS[glyphs][split]
    if glyphs == "mnist":
        from nobptt.data.mnist import load_mnist

        images, _ = load_mnist(part, data_dir or None, download=download)
    else:
        from nobptt.data.notmnist import load_notmnist

        images, _ = load_notmnist(data_dir or None, download=download)
    return images[start:stop]


def reflect(position: int, velocity: int, limit: int) -> tuple[int, int]:
    """One step of a coordinate in [0, limit] with elastic walls: (position, velocity) after it.
    Needs |velocity| <= limit (one mirror per step)."""
    p = position + velocity
    if p < 0:
        return -p, -velocity
    if p > limit:
        return 2 * limit - p, -velocity
    return p, velocity


def trajectory(start: int, velocity: int, limit: int, frames: int) -> list[int]:
    """The coordinate in each of ``frames`` frames, the first at ``start``."""
    out, p, v = [start], start, velocity
    for _ in range(frames - 1):
        p, v = reflect(p, v, limit)
        out.append(p)
    return out


@dataclass
class SequenceDraw:
    """What one seed fixes: glyph indices (K,), start positions (K, 2) and velocities (K, 2), (y, x)."""

    glyphs: torch.Tensor
    starts: torch.Tensor
    velocities: torch.Tensor


def draw_sequence(seed: int, pool_size: int, objects: int, limit: int, max_speed: int) -> SequenceDraw:
    """The random choices of one sequence, from its own seed only."""
    gen = torch.Generator().manual_seed(int(seed))
    glyphs = torch.randint(0, pool_size, (objects,), generator=gen)
    starts = torch.randint(0, limit + 1, (objects, 2), generator=gen)
    velocities = torch.randint(-max_speed, max_speed + 1, (objects, 2), generator=gen)
    for k in range(objects):  # a sprite must move: redraw a zero velocity
        while not bool(velocities[k].any()):
            velocities[k] = torch.randint(-max_speed, max_speed + 1, (2,), generator=gen)
    return SequenceDraw(glyphs, starts, velocities)


def sprites(images: torch.Tensor, sprite: int) -> torch.Tensor:
    """uint8 (N, 28, 28) glyphs as float (N, sprite, sprite) in [0, 1]; shrunk by area averaging."""
    out = images.float() / 255.0
    if sprite != out.shape[-1]:
        out = torch.nn.functional.interpolate(out.unsqueeze(1), size=(sprite, sprite), mode="area").squeeze(1)
    return out


def positions(draws: list[SequenceDraw], limit: int, frames: int) -> torch.Tensor:
    """(N, K, frames, 2) long: every sprite's top-left corner (y, x) in every frame; ``reflect``
    applied to all coordinates at once (the same rule as ``trajectory``)."""
    p = torch.stack([d.starts for d in draws])
    v = torch.stack([d.velocities for d in draws])
    out = [p]
    for _ in range(frames - 1):
        p = p + v
        below, above = p < 0, p > limit
        p = torch.where(below, -p, torch.where(above, 2 * limit - p, p))
        v = torch.where(below | above, -v, v)
        out.append(p)
    return torch.stack(out, dim=2)


def render_batch(draws: list[SequenceDraw], pool: torch.Tensor, size: int, sprite: int, frames: int) -> torch.Tensor:
    """(N, frames, size, size) float in [0, 1]: each sequence's sprites at their reflected
    positions, summed, clipped to 1 (one scatter-add per object, not a loop over frames)."""
    n, limit = len(draws), size - sprite
    where = positions(draws, limit, frames)
    glyphs = sprites(pool[torch.stack([d.glyphs for d in draws]).flatten()], sprite).view(n, -1, sprite, sprite)
    video = torch.zeros(n, frames, size, size)
    offsets = torch.arange(sprite)
    seq = torch.arange(n).view(n, 1, 1, 1)
    frame = torch.arange(frames).view(1, frames, 1, 1)
    for k in range(glyphs.shape[1]):
        rows = where[:, k, :, 0].view(n, frames, 1, 1) + offsets.view(sprite, 1)
        cols = where[:, k, :, 1].view(n, frames, 1, 1) + offsets.view(1, sprite)
        video.index_put_((seq, frame, rows, cols), glyphs[:, k].unsqueeze(1).expand(n, frames, sprite, sprite),
                         accumulate=True)
    return video.clamp_(max=1.0)


def render(draw: SequenceDraw, pool: torch.Tensor, size: int, sprite: int, frames: int) -> torch.Tensor:
    """(frames, size, size): one sequence (``render_batch`` of one)."""
    return render_batch([draw], pool, size, sprite, frames)[0]


class BouncingStream:
    """B synchronised streams of bouncing-sprite videos; ``episodes`` = None means endless."""

    def __init__(self, pool: torch.Tensor, size: int, sprite: int, objects: int, max_speed: int, frames: int,
                 batch_size: int, seed: int, episodes: int | None = None, device: torch.device | str = "cpu") -> None:
        self.pool, self.size, self.sprite, self.objects = pool, size, sprite, objects
        self.max_speed, self.frames, self.batch_size = max_speed, frames, batch_size
        self.seed, self.episodes, self.device = seed, episodes, torch.device(device)
        self.input_dim = self.n_classes = size * size  # one logit per pixel of the next frame
        self.episode_length = frames - 1
        self.length = None if episodes is None else episodes * self.episode_length
        self.gen = torch.Generator().manual_seed(seed)
        self.step = 0
        self.video = self._new_episode(self.gen)
        self._floors: dict[str, float] | None = None

    def sequence_seeds(self, gen: torch.Generator) -> torch.Tensor:
        """The next episode's B sequence seeds, drawn from the stream's generator."""
        return torch.randint(0, 2 ** 62, (self.batch_size,), generator=gen)

    def draws(self, gen: torch.Generator) -> list[SequenceDraw]:
        return [draw_sequence(int(s), self.pool.shape[0], self.objects, self.size - self.sprite, self.max_speed)
                for s in self.sequence_seeds(gen)]

    def _new_episode(self, gen: torch.Generator) -> torch.Tensor:
        """(B, frames, size * size) float: the next B videos, flattened."""
        return render_batch(self.draws(gen), self.pool, self.size, self.sprite, self.frames).flatten(2)

    def next_batch(self) -> Batch:
        if self.length is not None and self.step >= self.length:
            raise StopIteration(f"the held-out pass has only {self.length} steps")
        t = self.step % self.episode_length
        if t == 0 and self.step > 0:
            self.video = self._new_episode(self.gen)
        self.step += 1
        x, target = self.video[:, t], self.video[:, t + 1]
        zeros = torch.zeros(self.batch_size, dtype=torch.long)
        batch = Batch(x=x, label=zeros, target_x=target, target_label=zeros,
                      reset=torch.full((self.batch_size,), t == 0), target_prob=target,
                      ends_sequence=t == self.episode_length - 1)
        return batch.to(self.device)

    def ceilings(self) -> dict[str, float]:
        if self._floors is None:
            self._floors = self._measure_floors()
        return dict(self._floors)

    def _measure_floors(self) -> dict[str, float]:
        """Copy-last-frame and mean-frame BCE/SSE per frame on this stream's own sequences."""
        count = self.episodes if self.episodes is not None else REFERENCE_EPISODES

        def episodes():  # regenerated from the seed, one at a time (a pass can be large)
            gen = torch.Generator().manual_seed(self.seed)
            for _ in range(count):
                video = self._new_episode(gen)
                yield video[:, :-1].flatten(0, 1), video[:, 1:].flatten(0, 1)

        frames, mean = 0, torch.zeros(self.input_dim)
        sums = dict.fromkeys(("copy_bce", "copy_sse", "mean_bce", "mean_sse"), 0.0)
        for _, targets in episodes():
            mean += targets.sum(0)
            frames += targets.shape[0]
        mean_logit = torch.logit((mean / frames).clamp(FLOOR_EPS, 1 - FLOOR_EPS))
        for inputs, targets in episodes():
            for name, logits in (("copy", torch.logit(inputs.clamp(FLOOR_EPS, 1 - FLOOR_EPS))),
                                 ("mean", mean_logit.expand_as(targets))):
                bce, sse = bernoulli_scores(logits, targets)
                sums[f"{name}_bce"] += float(bce.sum())
                sums[f"{name}_sse"] += float(sse.sum())
        return {"copy_last_bce": sums["copy_bce"] / frames, "copy_last_sse": sums["copy_sse"] / frames,
                "mean_frame_bce": sums["mean_bce"] / frames, "mean_frame_sse": sums["mean_sse"] / frames}

    def state_dict(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state(), "step": self.step, "video": self.video.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["gen"])
        self.step, self.video = int(state["step"]), state["video"].clone()


@dataclass
class BouncingConfig:
    glyphs: str = "mnist"  # mnist | notmnist (the shipped 10k sample)
    size: int = 64  # canvas side (pixels); input and output have size^2 units
    sprite: int = 28  # sprite side: 28 = the glyphs as they are, smaller = shrunk (area averaging)
    objects: int = 2  # sprites per sequence
    max_speed: int = 4  # velocity components are integers in [-max_speed, max_speed], not both 0
    frames: int = 20  # frames per sequence (frames - 1 predictions)
    batch_size: int = 16  # parallel synchronised sequences per step
    eval_sequences: int = 256  # held-out / test sequences
    eval_batch_size: int = 64
    eval_seed: int = 12345  # held-out sequences from this seed, test from eval_seed + 1
    data_dir: str = ""  # searched first, then NOBPTT_DATA, then the defaults (nobptt/data/paths.py)
    download: bool = True  # fetch missing glyph files (checksummed) when online

    def __post_init__(self) -> None:
        check_ranges(self, positive="size sprite objects max_speed frames batch_size eval_sequences eval_batch_size",
                     non_negative="eval_seed")
        if self.glyphs not in GLYPHS:
            raise FieldError("glyphs", self.glyphs, f"must be one of {GLYPHS}")
        if self.frames < 2:
            raise FieldError("frames", self.frames, "must be >= 2 (a frame and the one to predict)")
        if self.size - self.sprite < self.max_speed:
            raise FieldError("size", self.size, f"must be >= sprite + max_speed = {self.sprite + self.max_speed} "
                             "(a sprite needs room to move; one reflection per step)")
        if self.eval_sequences % self.eval_batch_size:
            raise FieldError("eval_sequences", self.eval_sequences,
                             f"must be a multiple of task.eval_batch_size={self.eval_batch_size}")


@register_task("bouncing", config=BouncingConfig,
               description="Bouncing MNIST / notMNIST: predict the next 64x64 frame of 2 bouncing glyphs "
                           "(BCE and SSE per frame)",
               episode_length=lambda c: c.frames - 1)  # frames - 1 predictions a sequence
def bouncing_stream(config: BouncingConfig, split: str, seed: int, device: str) -> BouncingStream:
    if split not in ("train", "heldout", "test"):
        raise ConfigError(f"task 'bouncing' has no {split!r} stream: use train, heldout or test")
    pool = glyph_pool(config.glyphs, split, config.data_dir, config.download)
    shape = dict(size=config.size, sprite=config.sprite, objects=config.objects, max_speed=config.max_speed,
                 frames=config.frames)
    if split == "train":
        return BouncingStream(pool, batch_size=config.batch_size, seed=seed, device=device, **shape)
    # "test" draws from another seed than "heldout" (validation), so selection never sees it
    return BouncingStream(pool, batch_size=config.eval_batch_size, seed=config.eval_seed + (split == "test"),
                          episodes=config.eval_sequences // config.eval_batch_size, device=device, **shape)
