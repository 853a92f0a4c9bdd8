"""The status table (``nobptt results --headlines``): each system's headline number next to the
paper's. Ours is read from the records (``nobptt results`` rows, mean +- std over seeds); the
paper's is a fixed fact with its source, kept here beside the selection that produces ours.

A headline whose selection matches no row, or more than one, is an error naming it: a renamed
record or label cannot silently drop or double a number from the README.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from nobptt.errors import RecordError
from nobptt.records.rows import DAGGER, FOOTNOTE, format_metric, markdown, metric_values, pinned, record_rows


@dataclass(frozen=True)
class Headline:
    system: str
    task: str  # the task and what the number is, as the table shows it
    file: str  # the record file
    metric: str
    paper: str  # the paper's number and where it comes from
    docs: str  # the docs page, relative to the repository root
    select: dict[str, Any] = field(default_factory=dict)  # more `nobptt results` filters (label, split, ...)
    note: str = ""  # what the number is: seeds, steps, hardware
    steps: int | None = None  # training records: the row of the runs that stopped at this step


def _args(headline: Headline) -> argparse.Namespace:
    """The `nobptt results` filters of a headline's selection (rows.record_rows reads these)."""
    args = argparse.Namespace(file=[headline.file], task=None, learner=None, experiment=None, kind=None,
                              label=None, split=None, overrides=None)
    for key, value in headline.select.items():
        setattr(args, key, [value] if key in ("label", "learner", "task", "experiment", "kind") else value)
    return args


def headline_cell(files: dict[str, dict[str, Any]], headline: Headline) -> str:
    rows = record_rows(files, _args(headline))
    if headline.steps is not None:
        rows = [r for r in rows if {run.get("steps") for run in r["runs"]} == {headline.steps}]
    if len(rows) != 1:
        labels = sorted({r["label"] for r in rows})
        raise RecordError(f"headline {headline.system!r} on {headline.task!r}: its selection {headline.select} in "
                          f"{headline.file} matches {len(rows)} rows {labels}, not one (nobptt/records/headlines.py)")
    row = rows[0]
    values = metric_values(row, headline.metric)
    if not values:
        raise RecordError(f"headline {headline.system!r}: no {headline.metric!r} in {headline.file} row {row['label']!r}")
    text = format_metric(headline.metric, values)
    if not all(pinned(run) for run in row["runs"]):
        text += f" {DAGGER}"
    return text + (f" ({headline.note})" if headline.note else "")


def headlines_table(files: dict[str, dict[str, Any]]) -> str:
    body = [[h.system, h.task, headline_cell(files, h), h.paper, f"[{h.docs.split('/')[-1]}]({h.docs})"]
            for h in HEADLINES]
    text = markdown(["system", "task (metric)", "ours", "paper", "docs"], body)
    return text + ("\n" + FOOTNOTE + "\n" if any(DAGGER in row[2] for row in body) else "")


SS, PTB, SAB, CELLS = "docs/ssmnist.md", "docs/ptb.md", "docs/sab.md", "docs/cells.md"
COPY_RECIPE = "SAB, lr 0.001, x0.5 every 1,500 updates from 27,000; T = 100, 32,500 updates"

# The papers' numbers: bRSM (Gordon et al. 2019): PTB 103.5 from the paper, the ssMNIST 88.84% and
# 86.43% best-mean accuracies from the authors' published notebook output; Zaremba et al. 2014
# (small LSTM, 114.5); KN5 141.2 from Mikolov's thesis (Table 4.1); SAB (Ke et al. 2018): copying
# 100% / 31% (truncated BPTT); Phased LSTM (Neil et al. 2016): the frequency task's accuracies from the
# reference notebook's output (A_Freq_Task.ipynb, 5 seeds, the last of 70 epochs; the paper plots them
# only). "not published" where the paper gives none (docs/ssmnist.md, ptb.md, sab.md, cells.md).
HEADLINES = [
    Headline("partitioned bRSM", "ssMNIST, prequential accuracy at 10k batches (ceiling 88.89%)",
             "ssmnist_pbrsm_cpu_3seeds", "prequential_accuracy", "about 88% by 5k batches", SS,
             note="3 seeds, CPU"),
    Headline("partitioned bRSM", "ssMNIST, held-out accuracy at 10k batches", "ssmnist_pbrsm_cpu_3seeds",
             "accuracy", "not published", SS, note="3 seeds, CPU"),
    Headline("partitioned bRSM", "ssMNIST, best epoch's prequential accuracy by 30k batches",
             "ssmnist_pbrsm_30k_3seeds", "best_prequential_accuracy", "88.84% (SD 0.06)", SS, note="3 seeds, H100"),
    Headline("flat bRSM", "ssMNIST, prequential accuracy", "ssmnist_brsm", "prequential_accuracy",
             "~78% at 50k, 86.43% at 350k batches", SS, {"label": "bRSM"}, note="seed 0, 88,400 batches",
             steps=88_400),
    Headline("original RSM", "ssMNIST, prequential accuracy", "ssmnist_rsm", "prequential_accuracy",
             "not published", SS, {"label": "RSM gamma=0.5"}, note="26,000 batches"),
    Headline("LSTM, tBPTT k1=k2=10 (fair baseline)", "ssMNIST, prequential accuracy", "ssmnist_cpu_pbrsm_vs_lstm",
             "prequential_accuracy", "80.0% (the paper's handicapped baseline)", SS, {"learner": "lstm"},
             note="12k batches, CPU"),
    Headline("flat bRSM", "PTB words, test perplexity with a cache mixture", "ptb_brsm_full",
             "mixture_perplexity", "103.5 (mixture tuned on test)", PTB, {"split": "test"},
             note="mixture fitted on validation"),
    Headline("flat bRSM", "PTB words, test perplexity, model alone", "ptb_brsm_full", "perplexity",
             "not published", PTB, {"split": "test"}),
    Headline("LSTM 2x200 (Zaremba small)", "PTB words, test perplexity", "ptb_lstm_small_contiguous",
             "perplexity", "114.5", PTB, {"split": "test"}),
    Headline("Kneser-Ney 5-gram (ours)", "PTB words, test perplexity", "ptb_kn5", "perplexity",
             "141.2 (SRILM)", PTB, {"split": "test"}),
    Headline("SAB (k_trunc 5, k_top 5)", "copying T = 100, test recall accuracy", "sab_copying_long", "accuracy",
             "100%", SAB, {"label": COPY_RECIPE, "split": "test", "overrides": "none"}, note="6 seeds"),
    Headline("LSTM, truncated BPTT (k = 5)", "copying T = 100, test recall accuracy", "sab_copying_long",
             "accuracy", "31%", SAB, {"label": "LSTM, truncated BPTT (k = 5); T = 100, 26,000 updates",
                                      "split": "test", "overrides": "none"}, note="26,000 updates"),
    Headline("SAB", "adding T = 200, test MSE (predicting 1: 0.148)", "sab_adding_long", "mse", "not published",
             SAB, {"label": "SAB; T = 200, 5,000 updates", "split": "test", "overrides": "none"}, note="3 seeds"),
    Headline("SAB", "character PTB, test bits per character", "sab_ptb_char", "bpc", "not verified", SAB,
             {"label": "SAB", "split": "test"}, note="2 seeds"),
    Headline("LSTM, truncated BPTT (k = 10), SAB's size", "character PTB, test bits per character", "sab_ptb_char",
             "bpc", "not verified", SAB, {"label": "LSTM, truncated BPTT (k = 10), hidden 275", "split": "test"},
             note="2 seeds"),
    Headline("Phased LSTM, BPTT", "frequency task 1, 1 ms sampling, test accuracy", "freq_plstm_1ms", "accuracy",
             "99.26 ± 0.23% (reference notebook)", CELLS, {"split": "test"}, note="3 seeds, 70 epochs"),
    Headline("Phased LSTM, BPTT", "frequency task 1, asynchronous sampling, test accuracy", "freq_plstm_async",
             "accuracy", "97.89 ± 0.57% (reference notebook)", CELLS, {"split": "test"}, note="3 seeds, 70 epochs"),
]
