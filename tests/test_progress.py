"""The first screen: metric lines named by each task's unit, the progress bar, help text."""
import argparse
import io
import math

import pytest

from nobptt import cli
from nobptt.progress import ProgressLine, format_ceilings, format_row

CLASSIFY = {"step": 500, "prequential_accuracy": 0.9512, "heldout_accuracy": 0.9921, "heldout_nll": 0.0254,
            "wall_time_s": 12.0}


@pytest.mark.parametrize("task", ["ssmnist", "copying"])
def test_classification_prints_accuracy_and_nats_never_perplexity(task):
    line = format_row(CLASSIFY, {}, task)
    assert "held-out accuracy 99.21%" in line and "held-out cross-entropy 0.0254 nats" in line
    assert "perplexity" not in line and "bits" not in line


def test_word_language_model_prints_perplexity():
    line = format_row({"step": 1, "heldout_accuracy": 0.2, "heldout_nll": math.log(120.0)}, {}, "ptb_word")
    assert "held-out perplexity 120.00" in line
    assert "cross-entropy" in line and "accuracy" not in line


def test_characters_print_bits_per_character():
    line = format_row({"step": 1, "heldout_accuracy": 0.6, "heldout_nll": 1.4 * math.log(2)}, {}, "ptb_char")
    assert "held-out 1.4000 bits per character" in line and "perplexity" not in line


def test_regression_prints_mse():
    line = format_row({"step": 1, "heldout_mse": 0.00123}, {"chance_mse": 1 / 6}, "adding")
    assert "held-out MSE 0.00123" in line and "accuracy" not in line
    assert "chance: MSE 0.1667" in line


def test_chance_cross_entropy_names_its_unit():
    assert format_ceilings({"chance": 0.125, "chance_nll": 2.079}) == \
        "chance: accuracy 12.5%, cross-entropy 2.079 nats"


class Clock:
    """Fake time: tests say how long each update and each evaluation took."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_line(task="ssmnist", total=1000, ceilings=None):
    clock = Clock()
    out = io.StringIO()
    return ProgressLine(total, 0, ceilings or {}, task, file=out, clock=clock, mininterval=0), clock, out


def train(line, clock, steps, seconds_each, row_at=None):
    """Feed `steps` updates of `seconds_each`; row_at maps a step to its row."""
    for _ in range(steps):
        clock.now += seconds_each
        step = line.last_step + 1
        line(step, (row_at or {}).get(step, {}))


def test_heldout_values_stay_on_the_bar_until_the_next_evaluation():
    line, clock, _ = make_line()
    train(line, clock, 200, 0.1, {100: {"step": 100, **CLASSIFY}, 200: {"step": 200, "prequential_accuracy": 0.97}})
    # step 200 brought an epoch row without held-out values: the last evaluation's stay
    assert line.bar.postfix and "heldout=99.21%" in line.bar.postfix and "acc=97.00%" in line.bar.postfix
    train(line, clock, 100, 0.1, {300: {"step": 300, "heldout_accuracy": 0.5, "heldout_nll": 0.7}})
    assert "heldout=50.00%" in line.bar.postfix and "99.21" not in line.bar.postfix


def test_word_task_bar_shows_perplexity_not_accuracy():
    line, clock, _ = make_line("ptb_word")
    train(line, clock, 10, 0.1, {10: {"step": 10, "heldout_accuracy": 0.2, "heldout_nll": math.log(150.0)}})
    assert "ppl=150.0" in line.bar.postfix and "heldout" not in line.bar.postfix


def test_classification_bar_shows_no_perplexity():
    line, clock, _ = make_line("ssmnist")
    train(line, clock, 10, 0.1, {10: {"step": 10, **CLASSIFY}})
    assert "ppl" not in line.bar.postfix and "ce=0.0254 nats" in line.bar.postfix


def test_time_estimate_does_not_jump_after_an_evaluation():
    line, clock, _ = make_line(total=1000)
    train(line, clock, 99, 0.5)
    before = line.bar.format_dict["rate"]
    assert before == pytest.approx(2.0)
    # update 100 takes 0.5 s of training plus a 60 s evaluation
    clock.now += 60.5
    line(100, {"step": 100, **CLASSIFY})
    train(line, clock, 5, 0.5)
    assert line.bar.format_dict["rate"] == pytest.approx(2.0)
    assert "07:27" in str(line.bar)  # 895 updates left at 2 per second


def test_close_ends_the_bar_line_so_an_error_prints_on_its_own():
    line, clock, out = make_line()
    train(line, clock, 3, 0.1)
    line.close()
    line.close()  # idempotent: cmd_train closes again in its finally
    assert out.getvalue().endswith("\n")


def test_train_error_prints_on_its_own_line(monkeypatch, capsys):
    from nobptt.errors import DivergedError

    class Trainer:
        step = 0
        checkpoint_path = "x"

        def run(self, progress):
            progress(1, {})
            raise DivergedError("loss is nan at step 2")

    class Run:
        trainer, ceilings = Trainer(), {}

    import nobptt.run

    monkeypatch.setattr(nobptt.run, "prepare", lambda *a, **k: Run())
    code = cli.main(["train", "copying_sab", "--steps", "5", "--run-dir", "/nonexistent-never-created"])
    err = capsys.readouterr().err
    assert code == 2
    assert "\nnobptt: error: loss is nan at step 2" in err


def _help_texts(parser: argparse.ArgumentParser):
    yield parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _help_texts(sub)


def test_help_is_plain_text():
    texts = list(_help_texts(cli.build_parser()))
    assert len(texts) > 8  # every command and subcommand
    for text in texts:
        assert "`" not in text, text
