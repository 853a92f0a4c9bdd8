"""``nobptt lm ngram``: the Kneser-Ney n-gram baseline on PTB, scored like every other model.

Nothing is tuned (the discounts are estimated from the training counts), so validation and test
are both reported; perplexity is exp(mean NLL) over every token of the split, ``<eos>`` included,
with each line a sentence (the convention of SRILM, which produced the paper's KN5 = 141.2).
"""
from __future__ import annotations

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
                   command: str = "", allow_dirty: bool = False) -> dict[str, Any]:
    """Fit on train, score valid and test; with ``out``, add the two records to that record file
    (refused from a dirty tree unless ``allow_dirty``, checked before the minutes of fitting)."""
    from nobptt.records.provenance import writing_provenance

    writing = writing_provenance(out.parent, out.stem, allow_dirty) if out is not None else None
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
    result.update(environment("cpu"), wall_time_s=round(time.perf_counter() - started, 1))
    if out is not None:
        from nobptt.records.io import add_records

        add_records(out, ngram_records(result, writing))
    return result


def ngram_records(result: dict[str, Any], writing: dict[str, Any]) -> list[dict[str, Any]]:
    """The valid and test records (kind ngram) of one :func:`evaluate_ngram` result. There is no
    training run: the fit's provenance is ``training``, the scoring's ``evaluation``."""
    from nobptt.records.build import provenance_of
    from nobptt.records.schema import SCHEMA

    order = result["config"]["order"]
    fit = provenance_of({**result, **writing}, result.get("fit_seconds"), resumed=[])
    records = []
    for split in ("valid", "test"):
        evaluation = {**provenance_of({**result, **writing}, result.get("wall_time_s", result.get("wall_seconds"))),
                      "checkpoint": None, "step": None, "split": split, "at": result.get("at"),
                      "diff": writing.get("diff")}
        run = {"seed": None, "run_dir": None, "config": result["config"], "overrides": [], "parameters": None,
               "steps": None, "metrics": {"perplexity": result[split]["perplexity"]},
               "training": {**fit, "diff": writing.get("diff")}, "evaluation": evaluation}
        record = {"schema": SCHEMA, "kind": "ngram", "label": f"KN{order}", "task": "ptb_word",
                  "learner": f"kneser_ney_{order}", "experiment": None, "split": split,
                  "metrics": {"perplexity": result[split]["perplexity"]},
                  "details": {"model": result["model"], "tokens": result[split]["tokens"],
                              "discounts": result["discounts"]}, "runs": [run]}
        if split == "test":
            record["test_reads"] = None  # a count model has no checkpoint to count reads of
        records.append(record)
    return records
