"""SAB's baselines are registered presets, defined once (nobptt/learners/sab_config.py)."""
import dataclasses
import subprocess
import sys

import pytest

from nobptt.bench.variants import VARIANTS, bench_names, resolve
from nobptt.learners.registry import build_learner, get_learner_spec
from nobptt.learners.sab_config import PRESETS, preset_of

FIXED = {  # what each name means (issue 37's decision)
    "sab": {"attention": "sparse", "k_trunc": 5, "k_top": 5, "k_att": 2},
    "sab_lstm_tbptt5": {"attention": "none", "k_trunc": 5},
    "sab_lstm_bptt": {"attention": "none", "k_trunc": 0},
    "sab_selfattn": {"attention": "dense", "k_att": 1, "k_trunc": 0},
}


@pytest.mark.parametrize("name", sorted(FIXED))
def test_each_preset_is_registered_with_its_defaults_and_names_itself(name):
    spec = get_learner_spec(name)
    defaults = dataclasses.asdict(spec.config_cls())
    assert {k: defaults[k] for k in FIXED[name]} == FIXED[name]
    assert spec.optim == {"lr": 1e-3, "grad_clip": 1.0}
    learner = build_learner(name, {"hidden": 4, "attn_dim": 2}, 3, 3)
    assert learner.attend == (FIXED[name]["attention"] != "none")
    assert preset_of({"name": name}) == name
    # an old record named every baseline "sab" with the fields spelled out
    assert preset_of({**defaults, "name": "sab"}) == name


def test_preset_of_other_combinations_and_other_learners():
    assert preset_of({"name": "sab", "attention": "none", "k_trunc": 0, "k_att": 7}) == "sab_lstm_bptt"
    assert preset_of({"name": "sab", "attention": "dense", "k_att": 2, "k_trunc": 0}) == "sab"
    assert preset_of({"name": "sab", "attention": "none", "k_trunc": 10}) == "sab"
    assert preset_of({"name": "sab_lstm_bptt", "k_trunc": 5}) == "sab_lstm_tbptt5"  # its fields decide
    assert preset_of({"name": "sab", "hidden": 144}) == "sab"
    assert preset_of({"name": "lstm", "hidden": 3}) == "lstm"
    assert set(PRESETS) == set(FIXED)


def test_preset_of_needs_no_torch():
    code = "import sys; from nobptt.learners.sab_config import preset_of; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_benchmark_uses_the_presets_and_keeps_the_one_graph_variant():
    names = bench_names()
    for preset in ("sab_lstm_tbptt5", "sab_lstm_bptt", "sab_selfattn"):
        assert names.count(preset) == 1 and preset not in VARIANTS
        learner, options = resolve(preset, 50)
        assert learner == preset and options["window"] == 50  # one update per sequence of T steps
    assert resolve("sab_onegraph", 50) == ("sab", {"window": 50, "blockwise": False})
