"""scripts/: the SAB drivers name learners by their presets and train from experiment files that exist."""
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
EXPERIMENTS = ROOT / "nobptt" / "experiments"
NAMES = ("sab", "sab_lstm_tbptt5", "sab_lstm_bptt", "sab_selfattn", "sab_lstm_tbptt5_fb1", "sab_lstm_bptt_fb1")


def learner_args(task: str, name: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", f'. "{SCRIPTS}/sab_learners.sh" && learner_args "$0" "$1"', task, name],
                          capture_output=True, text=True)


@pytest.mark.parametrize("path", sorted(SCRIPTS.glob("*.sh")), ids=lambda p: p.name)
def test_every_driver_parses(path):
    out = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("task", ["copying", "adding"])
@pytest.mark.parametrize("name", NAMES)
def test_each_learner_trains_from_an_existing_experiment(task, name):
    out = learner_args(task, name)
    assert out.returncode == 0, out.stderr
    experiment, *overrides = out.stdout.split()
    assert (EXPERIMENTS / f"{experiment}.toml").exists(), experiment
    assert bool(overrides) == name.endswith("_fb1")


def test_an_unknown_learner_is_refused_with_the_valid_names():
    out = learner_args("copying", "bptt")  # the old spelling
    assert out.returncode == 2 and "sab_lstm_bptt" in out.stderr


def test_char_ptb_and_headline_drivers_name_existing_experiments():
    import re

    names = re.search(r"LEARNERS:-([a-z0-9_ ]+)}", (SCRIPTS / "sab_ptb_char.sh").read_text()).group(1).split()
    assert names == ["sab", "lstm_tbptt10"]
    for name in names:
        assert (EXPERIMENTS / f"ptb_char_{name}.toml").exists(), name
    assert "copying_sab_long --seed" in (SCRIPTS / "sab_copying_long.sh").read_text()
