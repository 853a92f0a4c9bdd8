"""scripts/sab_curves.py: the README's SAB figures. One panel per training length, one line per
learner and seed, a continued run drawn once (its longest record), and a clear error on mixed tasks."""

import pytest

from script_loader import load_script


@pytest.fixture(scope="module")
def curves():
    yield from load_script("sab_curves")


def adding(learner="sab", seed=0, T=200, updates=10, mse=0.1, folder=None):
    """An adding test record as `nobptt eval --out` writes it, validated every update."""
    curve = [{"step": T * (i + 1), "heldout_mse": mse} for i in range(updates)]
    return {"run_dir": folder or f"runs/adding_{learner}_T{T}_s{seed}", "seed": seed, "split": "test",
            "step": T * updates, "config": {"task": {"name": "adding", "T": T}, "model": {"hidden": 128, "lr": 0.001},
                                           "train": {"steps": T * updates}},
            "metrics": {"heldout_mse": mse}, "heldout_curve": curve}


def test_one_panel_per_length_and_one_line_per_learner_and_seed(curves):
    records = [adding(T=200), adding(seed=1, T=200), adding("bptt", T=200), adding(T=400),
               adding(seed=1, T=400, updates=20, folder="runs/adding_sab_T400_s1_u20")]
    records.append(adding(seed=1, T=400, updates=10))  # its source run: the same curve, shorter
    fig = curves.plot(records)
    panels = fig.axes
    assert [ax.get_title() for ax in panels] == ["T = 200", "T = 400"]
    assert len(panels[0].lines) == 3 + 1  # sab seeds 0 and 1, bptt seed 0, chance
    assert len(panels[1].lines) == 2 + 1  # sab seed 0 and the continued seed 1 once, chance
    continued = [line for line in panels[1].lines if len(line.get_xdata()) == 20]
    assert len(continued) == 1 and continued[0].get_xdata()[-1] == 20  # x axis in updates, not steps
    assert panels[0].get_yscale() == "log"


def test_records_of_two_tasks_are_refused(curves):
    copying = adding()
    copying["config"]["task"]["name"] = "copying"
    copying["run_dir"] = "runs/copying_sab_T200_s0"
    with pytest.raises(SystemExit, match="one task"):
        curves.plot([adding(), copying], source="mixed.json")


def test_more_than_ten_learners_each_get_their_own_colour(curves):
    # tab10 alone zipped the 11th learner away and the plot raised KeyError (README figure, 2026-12-05)
    records = [adding(f"learner{i}", folder=f"runs/adding_learner{i}_T200_s0") for i in range(11)]
    fig = curves.plot(records)
    lines = fig.axes[0].lines[:-1]  # the last is chance
    assert len(lines) == 11
    assert len({line.get_color() for line in lines}) == 11
