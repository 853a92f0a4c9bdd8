"""nobptt.analysis.curves (`nobptt analyze curves`): the SAB figures from schema-1 evaluation
records. One panel per training length, one line per learner and seed, a continued run drawn once
(its longest record), and a clear error on mixed tasks."""
import pytest

from nobptt.analysis import curves
from nobptt.cli import main
from nobptt.errors import RecordError
from nobptt.records.io import write_file


def adding(learner="sab", seed=0, T=200, updates=10, mse=0.1, hidden=128, task="adding"):
    """An adding test record as `nobptt eval --out` writes it (schema 1), validated every update."""
    curve = [{"step": T * (i + 1), "wall_time_s": 1.0, "heldout_mse": mse} for i in range(updates)]
    config = {"task": {"name": task, "T": T}, "model": {"name": "sab", "hidden": hidden},
              "optim": {"lr": 0.001, "grad_clip": 1.0}, "train": {"steps": T * updates, "seed": seed}}
    if learner == "bptt":
        config["model"].update(attention="none", k_trunc=0)
    prov = {"command": "c", "commit": "0" * 40, "clean": True, "diff": None, "hardware": None, "device": "cpu",
            "torch": "2", "python": "3", "wall_time_s": 1.0}
    run = {"seed": seed, "run_dir": f"runs/adding_{learner}_T{T}_s{seed}", "config": config, "overrides": [],
           "parameters": 5, "steps": T * updates, "metrics": {"mse": mse}, "training": {**prov, "resumed": []},
           "evaluation": {**prov, "checkpoint": "best.pt", "step": T * updates, "split": "test", "at": None}}
    return {"schema": 1, "kind": "evaluation", "label": learner, "task": task, "learner": "sab",
            "experiment": "adding_sab", "split": "test", "metrics": {"mse": mse}, "test_reads": 1,
            "curves": {f"seed{seed}": curve}, "runs": [run]}


def test_one_panel_per_length_and_one_line_per_learner_and_seed():
    records = [adding(T=200), adding(seed=1, T=200), adding("bptt", T=200), adding(T=400),
               adding(seed=1, T=400, updates=20)]
    records.append(adding(seed=1, T=400, updates=10))  # its source run: the same curve, shorter
    fig = curves.plot(records)
    panels = fig.axes
    assert [ax.get_title() for ax in panels] == ["T = 200", "T = 400"]
    assert len(panels[0].lines) == 3 + 1  # sab seeds 0 and 1, bptt seed 0, chance
    assert len(panels[1].lines) == 2 + 1  # sab seed 0 and the continued seed 1 once, chance
    continued = [line for line in panels[1].lines if len(line.get_xdata()) == 20]
    assert len(continued) == 1 and continued[0].get_xdata()[-1] == 20  # x axis in updates, not steps
    assert panels[0].get_yscale() == "log"


def test_records_of_two_tasks_are_refused():
    with pytest.raises(RecordError, match="one task"):
        curves.plot([adding(), adding(task="copying")], source="mixed.json")


def test_more_than_ten_learners_each_get_their_own_colour():
    # tab10 alone zipped the 11th learner away and the plot raised KeyError (README figure, 2026-12-05)
    records = [adding(hidden=100 + i) for i in range(11)]  # eleven configs: eleven labels
    fig = curves.plot(records)
    lines = fig.axes[0].lines[:-1]  # the last is chance
    assert len(lines) == 11
    assert len({line.get_color() for line in lines}) == 11


def test_the_command_writes_the_png_of_a_record_file(tmp_path, capsys):
    path = write_file(tmp_path / "sab_adding.json", {"schema": 1, "name": "sab_adding",
                                                    "records": [adding(), adding("bptt")]})
    out = tmp_path / "figure.png"
    assert main(["analyze", "curves", str(path), "--out", str(out)]) == 0
    assert out.read_bytes().startswith(b"\x89PNG") and f"wrote {out}" in capsys.readouterr().out


def test_training_records_are_drawn_as_nobptt_report_draws_them(tmp_path):
    from nobptt.records.build import training_record

    rows = [{"step": 100 * (i + 1), "wall_time_s": 1.0 * (i + 1), "prequential_accuracy": 0.5,
             "heldout_accuracy": 0.6} for i in range(3)]
    meta = {"config": {"task": {"name": "copying", "T": 10}, "model": {"name": "sab"}, "train": {"seed": 0}}}
    records = [training_record([{"run_dir": "runs/a", "meta": meta, "rows": rows}], label) for label in ("A", "B")]
    path = write_file(tmp_path / "norms.json", {"schema": 1, "name": "norms", "records": records})
    out = curves.main(path)
    assert out == tmp_path / "norms.png" and out.read_bytes().startswith(b"\x89PNG")
