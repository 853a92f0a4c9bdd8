"""``nobptt lm evaluate``: the honest perplexity protocol for a trained language model.

1. Read one full pass over the validation set and one over the test set with the model, recording
   the log-probability of every target (every token once, ``<eos>`` included).
2. Fit the mixture of model, recency cache and uniform distribution on validation only
   (``mixture.fit_mixture``: EM weights per cache decay, decay chosen on a grid).
3. Score the test pass once, with the classifier alone and with the fitted mixture.

The checkpoint evaluated is the one with the best validation perplexity (``best.pt``, kept by the
trainer with ``train.best_metric = "heldout_nll"``) unless another is named.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from nobptt.environment import environment
from nobptt.learners.base import Learner
from nobptt.lm.cache import cache_probs
from nobptt.lm.mixture import fit_mixture, perplexity
from nobptt.records.provenance import count_test_read
from nobptt.config import resolve
from nobptt.run import build_stream, load_learner, read_run_config

CACHE_DECAYS = (0.9, 0.95, 0.98, 0.99, 0.995, 0.999)


@torch.no_grad()
def target_log_probs(learner: Learner, stream: Any, device: torch.device | str) -> dict[str, torch.Tensor]:
    """One pass over a finite stream: (B, L) model log-probabilities, input and target ids, weights."""
    state = learner.initial_state(stream.batch_size, device)
    learner.eval()
    columns: dict[str, list[torch.Tensor]] = {"log_p": [], "inputs": [], "targets": [], "weights": []}
    for _ in range(stream.length):
        batch = stream.next_batch().to(device)
        state, logits = learner.infer(state, batch)
        # float32 log-softmax is accurate to ~1e-6 in log p; only the gathered values go to float64
        log_p = F.log_softmax(logits.float(), dim=-1).gather(1, batch.target_label.unsqueeze(1))[:, 0].double()
        columns["log_p"].append(log_p.cpu())
        columns["inputs"].append(batch.label.cpu())
        columns["targets"].append(batch.target_label.cpu())
        columns["weights"].append(batch.weight.cpu())
    learner.train()
    return {k: torch.stack(v, dim=1) for k, v in columns.items()}


def _scored(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return values[weights > 0]


def evaluate_run(run_dir: Path, checkpoint: str = "best.pt", device: str = "",
                 decays: tuple[float, ...] = CACHE_DECAYS, command: str = "") -> dict[str, Any]:
    """Validation-fitted mixture and one test pass; the result is also written to the run folder,
    and the test read is counted there (``test_reads.json``, a warning from the second read on)."""
    started = time.perf_counter()
    config = resolve(read_run_config(run_dir)["config"])
    if device:
        config["train"]["device"] = device
    dev = config["train"]["device"]
    # the checkpoint's learner alone: no trainer, no optimizer, no training stream (as `nobptt eval`)
    valid = build_stream(config, "heldout", dev)
    learner, step = load_learner(config, Path(run_dir) / checkpoint, valid)
    passes = {"heldout": target_log_probs(learner, valid, dev),
              "test": target_log_probs(learner, build_stream(config, "test", dev), dev)}
    vocab = valid.n_classes
    cache = {split: {d: _scored(cache_probs(p["inputs"], p["targets"], vocab, d), p["weights"])
                     for d in decays} for split, p in passes.items()}
    model_p = {split: _scored(p["log_p"], p["weights"]).exp() for split, p in passes.items()}
    mixture, by_decay = fit_mixture(model_p["heldout"], cache["heldout"], vocab)
    result: dict[str, Any] = {"run_dir": str(run_dir), "checkpoint": checkpoint, "step": step,
                              "command": command, "config": config, "seed": config["train"]["seed"],
                              "mixture_fitted_on": "validation", "cache_decay_grid": list(decays)}
    for split, name in (("heldout", "valid"), ("test", "test")):
        cache_p = cache[split][mixture.cache_decay]
        result[name] = {
            "tokens": int(model_p[split].numel()),
            "perplexity_model": perplexity(model_p[split].log()),
            "perplexity_mixture": perplexity(mixture.log_probs(model_p[split], cache_p, vocab)),
        }
    result["valid"]["perplexity_mixture_by_cache_decay"] = {str(d): v for d, v in by_decay.items()}
    result["mixture"] = vars(mixture)
    result.update(environment(str(dev)), wall_time_s=round(time.perf_counter() - started, 1),
                  at=time.strftime("%Y-%m-%dT%H:%M:%S"),
                  test_reads=count_test_read(Path(run_dir), checkpoint, command))
    (Path(run_dir) / f"lm_evaluation_{Path(checkpoint).stem}.json").write_text(json.dumps(result, indent=2))
    return result
