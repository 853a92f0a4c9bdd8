"""``nobptt lm ngram``: the Kneser-Ney n-gram baseline on PTB, scored like every other model.

Nothing is tuned (the discounts are estimated from the training counts), so validation and test
are both reported; perplexity is exp(mean NLL) over every token of the split, ``<eos>`` included,
with each line a sentence (the convention of SRILM, which produced the paper's KN5 = 141.2).
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from nobptt.data.ptb import load_ptb
from nobptt.environment import environment
from nobptt.lm.kneser_ney import KneserNey


def perplexity_of(model: KneserNey, sentences: list[list[int]]) -> tuple[float, int]:
    total, count = 0.0, 0
    for sentence in sentences:
        logs = model.sentence_log_probs(sentence)
        total, count = total + sum(logs), count + len(logs)
    return math.exp(-total / count), count


def evaluate_ngram(order: int = 5, data_dir: str | os.PathLike | None = None, out: Path | None = None,
                   command: str = "") -> dict[str, Any]:
    started = time.perf_counter()
    train = load_ptb("train", "word", data_dir)
    model = KneserNey(order, len(train.vocab)).fit(train.sentences())
    fitted = time.perf_counter() - started
    result: dict[str, Any] = {"model": f"interpolated modified Kneser-Ney, order {order}",
                              "command": command, "config": {"order": order, "corpus": "ptb word"},
                              "seed": None, "discounts": model.discount[1:],
                              "fit_seconds": round(fitted, 1)}
    for split in ("valid", "test"):
        ppl, tokens = perplexity_of(model, load_ptb(split, "word", data_dir).sentences())
        result[split] = {"tokens": tokens, "perplexity": ppl}
    result.update(environment("cpu"), wall_seconds=round(time.perf_counter() - started, 1))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
    return result
