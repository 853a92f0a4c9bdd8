"""Where a copying model goes wrong: recall accuracy by position and by symbol.

A copying run's headline is one number, the accuracy over all 10 recalled symbols. When it stops
short of 100% (SAB at T = 100 settled at 96% on two of its seeds; docs/sab.md#results), the total does not say
whether every recall is a little unsure or a few positions (say the last symbols written before
the blanks) are not held at all. This breaks the same test episodes down by recall position
(1-10, the order the symbols were written and are recalled in) and by symbol (1-8), and gives
the distribution of errors per episode. It reads a learner and a finite held-out copying stream
only through the learner API (``initial_state`` / ``infer``) and ``Batch``, like the trainer's
evaluation, so its total equals ``nobptt eval``'s accuracy on the same episodes.
"""
from __future__ import annotations

from typing import Any

import torch

from nobptt.learners.base import Learner
from nobptt.tasks.episodes import SYMBOLS, EpisodeStream


def copying_breakdown(learner: Learner, stream: EpisodeStream, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Recall accuracy of ``learner`` on every episode of the finite copying ``stream``: overall,
    per recall position, per target symbol, and how many episodes have 0, 1, 2, ... errors."""
    if stream.task != "copying" or stream.episodes is None:
        raise ValueError("copying_breakdown needs a finite held-out copying stream (task 'copying', episodes set)")
    length, batch, recall = stream.episode_length, stream.batch_size, stream.recall
    by_position = torch.zeros(recall)
    by_symbol, per_symbol_count = torch.zeros(SYMBOLS + 1), torch.zeros(SYMBOLS + 1)
    errors_per_episode: list[torch.Tensor] = []
    was_training = learner.training
    learner.eval()
    with torch.no_grad():
        for _ in range(stream.episodes):
            state = learner.initial_state(batch, device)
            wrong = torch.zeros(batch)
            for t in range(length):
                step = stream.next_batch().to(device)
                state, logits = learner.infer(state, step)
                position = t - (length - recall)
                if position < 0:
                    continue
                target = step.target_label.cpu()
                hit = (logits.argmax(dim=-1).cpu() == target).float()
                by_position[position] += hit.sum()
                by_symbol.index_add_(0, target, hit)
                per_symbol_count.index_add_(0, target, torch.ones_like(hit))
                wrong += 1 - hit
            errors_per_episode.append(wrong)
    learner.train(was_training)
    episodes = stream.episodes * batch
    errors = torch.cat(errors_per_episode).long()
    return {
        "episodes": episodes,
        "accuracy": float(by_position.sum() / (episodes * recall)),
        "accuracy_by_position": [float(v / episodes) for v in by_position],
        "accuracy_by_symbol": {str(s): float(by_symbol[s] / per_symbol_count[s])
                               for s in range(1, SYMBOLS + 1) if per_symbol_count[s]},
        "episodes_by_errors": {str(k): int((errors == k).sum()) for k in range(recall + 1) if (errors == k).any()},
    }


def format_breakdown(result: dict[str, Any]) -> str:
    positions = " ".join(f"{100 * a:5.1f}" for a in result["accuracy_by_position"])
    symbols = " ".join(f"{s}:{100 * a:.1f}" for s, a in result["accuracy_by_symbol"].items())
    errors = ", ".join(f"{k}: {n}" for k, n in result["episodes_by_errors"].items())
    return (f"recall accuracy {100 * result['accuracy']:.2f}% over {result['episodes']} episodes\n"
            f"by position 1-10 (%): {positions}\n"
            f"by symbol (%):        {symbols}\n"
            f"episodes by number of wrong symbols: {errors}")
