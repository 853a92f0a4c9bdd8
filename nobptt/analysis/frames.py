"""Sample frames of a video task as a picture: truth beside prediction (``nobptt frames``;
docs/bouncing.md#sample-frames).

A checkpoint's learner runs, without learning and from a fresh state, over the first sequence of
the evaluation stream's B synchronised sequences (as ``nobptt eval`` does); for the first
``sequences`` of them the picture has two rows, the true next frames and the predicted ones
(sigmoid of the logits: the probability each pixel is lit), one column per step. Reading the test
split counts as a test read (docs/results.md), as ``nobptt eval --split test`` does.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from nobptt.errors import ConfigError


def predicted_frames(run_dir: Path, checkpoint: str = "checkpoint.pt", split: str = "heldout",
                     sequences: int = 2, overrides: list[str] = (), command: str = "") -> dict:
    """{"truth": (S, T, side, side), "predicted": (S, T, side, side), "inputs": ..., "step": the
    checkpoint's step, "task": the task config}: the first ``sequences`` sequences' T = frames - 1
    predictions."""
    from nobptt.evaluate import eval_config
    from nobptt.run import build_stream, load_learner, read_run_config

    meta = read_run_config(run_dir)
    config = eval_config(meta, list(overrides), device="cpu")
    if not (Path(run_dir) / checkpoint).exists():
        raise ConfigError(f"{Path(run_dir) / checkpoint} not found; checkpoints there: "
                          f"{sorted(p.name for p in Path(run_dir).glob('*.pt')) or 'none'}")
    try:
        stream = build_stream(config, split, "cpu")
    except ValueError as err:
        raise ConfigError(f"--split {split}: {err}") from err
    side = math.isqrt(stream.input_dim)
    if side * side != stream.input_dim or stream.n_classes != stream.input_dim:
        raise ConfigError(f"task {config['task']['name']!r} is not a square video (input {stream.input_dim}, "
                          f"outputs {stream.n_classes}): nobptt frames draws next-frame prediction tasks (bouncing)")
    if not 1 <= sequences <= stream.batch_size:
        raise ConfigError(f"--sequences {sequences} must be in 1..{stream.batch_size} (task.eval_batch_size)")
    learner, step = load_learner(config, Path(run_dir) / checkpoint, stream)
    if split == "test":
        from nobptt.records.provenance import count_test_read

        count_test_read(Path(run_dir), checkpoint, command)
    state = learner.initial_state(stream.batch_size, "cpu")
    truth, predicted, inputs = [], [], []
    learner.eval()
    with torch.no_grad():
        while True:
            batch = stream.next_batch()
            if batch.target_prob is None:
                raise ConfigError(f"task {config['task']['name']!r} has no Bernoulli targets to draw")
            state, logits = learner.infer(state, batch)
            inputs.append(batch.x[:sequences])
            truth.append(batch.target_prob[:sequences])
            predicted.append(torch.sigmoid(logits[:sequences].float()))
            if batch.ends_sequence:
                break

    def video(frames: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(frames, 1).view(sequences, len(frames), side, side)
    return {"truth": video(truth), "predicted": video(predicted), "inputs": video(inputs), "step": step,
            "task": config["task"], "learner": config["model"]["name"]}


def plot_frames(frames: dict, out: Path, steps: int = 10, title: str = "") -> Path:
    """Write the picture: per sequence a row of true next frames above a row of predicted ones,
    the first ``steps`` steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truth, predicted = frames["truth"], frames["predicted"]
    count, columns = truth.shape[0], min(steps, truth.shape[1])
    fig, axes = plt.subplots(2 * count, columns, figsize=(1.2 * columns, 1.3 * 2 * count), squeeze=False)
    for s in range(count):
        for t in range(columns):
            for row, (what, video) in enumerate((("truth", truth), ("predicted", predicted))):
                ax = axes[2 * s + row, t]
                ax.imshow(video[s, t].numpy(), cmap="gray", vmin=0.0, vmax=1.0)
                ax.set_xticks([])
                ax.set_yticks([])
                if t == 0:
                    ax.set_ylabel(f"seq {s + 1}\n{what}", fontsize=7)
                if s == 0 and row == 0:
                    ax.set_title(f"frame {t + 2}", fontsize=7)
    fig.suptitle(title or f"{frames['learner']} on {frames['task']['name']} ({frames['task'].get('glyphs', '')}), "
                 f"step {frames['step']}: next frame, truth above prediction", fontsize=8)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
