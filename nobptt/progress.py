"""What `nobptt train` and `nobptt eval` print: metric lines named by what each task measures, the
task's reference levels (ceilings), and the progress bar of a training run.

Each task reports its held-out metrics in its own unit (docs/results.md, metric names):
classification tasks (ssMNIST, copying) held-out accuracy and cross-entropy in nats; PTB words
perplexity; PTB characters bits per character; regression (adding) mean squared error. The
trainer's rows carry `heldout_nll` (nats) for every classification-style task, so the unit is
decided from the task's name plus the row's keys.
"""
from __future__ import annotations

import math
import sys
import time
from typing import IO, Any, Callable

def _exp(x: float) -> float:
    """``math.exp`` that gives inf instead of raising: a progress line must never end a run."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


# tasks whose cross-entropy is reported as a language-model figure rather than in nats
PERPLEXITY_TASKS = frozenset({"ptb_word"})
BITS_PER_CHARACTER_TASKS = frozenset({"ptb_char", "ptb_char_sentences"})


def format_ceilings(ceilings: dict[str, float]) -> str:
    """A task's reference levels: the best achievable accuracy and chance, one line."""
    if not ceilings:
        return ""
    parts = [f"Bayes-optimal {100 * ceilings['bayes']:.2f}%"] if "bayes" in ceilings else []
    orders = sorted(k for k in ceilings if k.startswith("order"))
    if orders:
        values = "/".join(f"{100 * ceilings[k]:.1f}" for k in orders)
        parts.append(f"last-{','.join(k[5:] for k in orders)}-labels {values}%")
    chance = [f"accuracy {100 * ceilings['chance']:.1f}%"] if "chance" in ceilings else []
    chance += [f"cross-entropy {ceilings['chance_nll']:.3f} nats"] if "chance_nll" in ceilings else []
    chance += [f"MSE {ceilings['chance_mse']:.4f}"] if "chance_mse" in ceilings else []
    chance += [f"predicting 1 on these episodes MSE {ceilings['constant_mse']:.4f}"] \
        if "constant_mse" in ceilings else []
    # the levels of partial solutions (the Add task's plateaus) and the series tasks' references
    levels = [f"{key[:-4].replace('_', ' ')} {ceilings[key]:.4f} nats"
              for key in ("first_lag_nll", "both_lags_nll") if key in ceilings]
    levels += [f"predicting the last value MSE {ceilings['persistence_mse']:.3g}"] if "persistence_mse" in ceilings else []
    levels += [f"target std {ceilings['target_std']:.4g} (NRMSE = RMSE / std)"] if "target_std" in ceilings else []
    # character PTB's floor (nobptt.data.unigram): the train unigram's bits, then the file's own entropy
    if "unigram_bpc" in ceilings:
        levels.append(f"unigram {ceilings['unigram_bpc']:.3f} bits per character (the file's own unigram "
                      f"entropy {ceilings.get('unigram_entropy_bpc', float('nan')):.3f})")
    # a video's floors (docs/bouncing.md#floors): BCE per frame of trivial predictors
    levels += [f"{what} BCE {ceilings[key]:.1f} nats/frame" for key, what in
               (("mean_frame_bce", "predicting the mean frame"), ("copy_last_bce", "copying the last frame"))
               if key in ceilings]
    return "; ".join((["ceiling: " + "; ".join(parts)] if parts else []) + (["chance: " + ", ".join(chance)] if chance else [])
                     + (["levels: " + ", ".join(levels)] if levels else []))


def heldout_parts(row: dict[str, Any], task: str, ceilings: dict[str, float] | None = None) -> list[str]:
    """The held-out metrics of a row, each named by its unit for this task; with a ``target_std``
    among the ``ceilings`` (the series tasks), the MSE also as NRMSE = RMSE / target_std."""
    parts = []
    nll = row.get("heldout_nll")
    if task in PERPLEXITY_TASKS and nll is not None:
        parts.append(f"held-out perplexity {_exp(nll):.2f} (cross-entropy {nll:.4f} nats)")
    elif task in BITS_PER_CHARACTER_TASKS and nll is not None:
        parts.append(f"held-out {nll / math.log(2):.4f} bits per character (cross-entropy {nll:.4f} nats)")
    else:
        if "heldout_accuracy" in row:
            parts.append(f"held-out accuracy {100 * row['heldout_accuracy']:.2f}%")
        if nll is not None:
            parts.append(f"held-out cross-entropy {nll:.4f} nats")
    if "heldout_mse" in row:
        parts.append(f"held-out MSE {row['heldout_mse']:.5f}")
        std = (ceilings or {}).get("target_std")
        if std:
            rmse = math.sqrt(max(row["heldout_mse"], 0.0))
            parts.append(f"RMSE {rmse:.4g}, NRMSE {rmse / std:.4g}")
    if "heldout_bce" in row:
        parts.append(f"held-out BCE {row['heldout_bce']:.2f} nats per frame, SSE {row.get('heldout_sse', math.nan):.2f}")
    return parts


def format_row(row: dict[str, Any], ceilings: dict[str, float], task: str) -> str:
    """One metrics row as a line: step, prequential and held-out metrics, training seconds."""
    bits = [f"step {row['step']}"]
    if "prequential_accuracy" in row:
        bits.append(f"prequential accuracy {100 * row['prequential_accuracy']:.2f}%")
    bits += heldout_parts(row, task, ceilings)
    for key in ("memory_mse", "classifier_ce"):
        if key in row:
            bits.append(f"{key} {row[key]:.4g}")
    bits.append(f"{row.get('wall_time_s', 0):.0f}s")
    return ", ".join(bits) + ("  [" + format_ceilings(ceilings) + "]" if ceilings else "")


def is_evaluation(row: dict[str, Any]) -> bool:
    return any(key.startswith("heldout_") for key in row)


def heldout_postfix(row: dict[str, Any], task: str) -> dict[str, str]:
    """The short form of a row's held-out metrics for the progress bar."""
    nll = row.get("heldout_nll")
    if task in PERPLEXITY_TASKS and nll is not None:
        return {"ppl": f"{_exp(nll):.1f}"}
    if task in BITS_PER_CHARACTER_TASKS and nll is not None:
        return {"bpc": f"{nll / math.log(2):.3f}"}
    post = {}
    if "heldout_accuracy" in row:
        post["heldout"] = f"{100 * row['heldout_accuracy']:.2f}%"
    if nll is not None:
        post["ce"] = f"{nll:.4f} nats"
    if "heldout_mse" in row:
        post["mse"] = f"{row['heldout_mse']:.4f}"
    if "heldout_bce" in row:
        post["bce"] = f"{row['heldout_bce']:.2f}"
    return post


class ProgressLine:
    """The progress bar of a training run, called once per update as ``line(step, row)``.

    - The held-out values stay on the bar until the next evaluation replaces them (epoch rows,
      which carry only training means, come every epoch_steps updates).
    - The time estimate counts training time only: an update whose row carries held-out metrics
      also ran an evaluation, so its interval is left out of the rate. tqdm's own rate would
      fold a long evaluation into its moving average and the remaining time would jump.
    - ``close()`` ends the bar's line, so that whatever prints next (an error) has its own line.

    ``clock`` is injectable so that tests can feed the times of updates and evaluations.
    """

    def __init__(self, total: int, start: int, ceilings: dict[str, float], task: str,
                 file: IO[str] | None = None, clock: Callable[[], float] = time.perf_counter,
                 mininterval: float = 0.1) -> None:
        from tqdm import tqdm

        class _Bar(tqdm):
            training_rate: float | None = None

            @property
            def format_dict(self) -> dict[str, Any]:
                values = super().format_dict
                values["rate"] = self.training_rate
                return values

        self.task, self.total, self.clock = task, total, clock
        self.bar = _Bar(total=total, initial=start, unit="batch", dynamic_ncols=file is None,
                        file=file or sys.stderr, mininterval=mininterval)
        self.postfix: dict[str, str] = {}
        self.bayes = ceilings.get("bayes")
        self.target_std = ceilings.get("target_std")  # series tasks: NRMSE = RMSE / target_std
        self.last_step, self.last_time = start, clock()
        self.trained_steps, self.trained_seconds = 0, 0.0
        self.closed = False

    @property
    def rate(self) -> float | None:
        """Updates per second over the training intervals seen so far (evaluations left out)."""
        return self.trained_steps / self.trained_seconds if self.trained_seconds > 0 else None

    def __call__(self, step: int, row: dict[str, Any]) -> None:
        now = self.clock()
        if not is_evaluation(row):
            self.trained_steps += step - self.last_step
            self.trained_seconds += now - self.last_time
        self.last_step, self.last_time = step, now
        self.bar.training_rate = self.rate
        if row:
            if "prequential_accuracy" in row:
                self.postfix["acc"] = f"{100 * row['prequential_accuracy']:.2f}%"
            if is_evaluation(row):
                for key in ("heldout", "ce", "ppl", "bpc", "mse", "nrmse", "bce"):
                    self.postfix.pop(key, None)
                self.postfix.update(heldout_postfix(row, self.task))
                if self.target_std and "heldout_mse" in row:
                    self.postfix["nrmse"] = f"{math.sqrt(max(row['heldout_mse'], 0.0)) / self.target_std:.4g}"
            if self.bayes is not None:
                self.postfix["ceiling"] = f"{100 * self.bayes:.2f}%"
            self.bar.set_postfix(self.postfix, refresh=False)
        self.bar.update(step - self.bar.n)
        if step >= self.total:
            self.close()

    def close(self) -> None:
        """End the bar's line (idempotent)."""
        if not self.closed:
            self.closed = True
            self.bar.close()
