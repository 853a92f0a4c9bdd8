"""scripts/sab_table.py: the README's SAB tables and over-seed means come from it, so its rows,
schedules and seed grouping are checked on records whose answers are known."""
import json
import statistics
import subprocess
import sys

import pytest
from script_loader import SCRIPTS, load_script

SCRIPT = SCRIPTS / "sab_table.py"


@pytest.fixture(scope="module")
def table():
    yield from load_script("sab_table")


def record(learner="sab", seed=0, T=100, eval_T=None, accuracy=0.5, steps=120 * 1000, decay=None):
    """A copying evaluation record as `nobptt eval --out` writes it (episode length T + 20)."""
    train = {"steps": steps}
    if decay:
        train.update(lr_decay=0.5, lr_decay_every=decay[0], lr_decay_from=decay[1])
    task = {"name": "copying", "T": T, **({"eval_T": eval_T} if eval_T else {})}
    return {"run_dir": f"runs/copying_{learner}_T{T}_s{seed}", "seed": seed, "step": steps,
            "config": {"task": task, "model": {"hidden": 128, "lr": 0.001}, "train": train},
            "metrics": {"heldout_accuracy": accuracy, "heldout_nll": 1.0}, "parameters": 90762,
            "train_wall_time_s": 600}


def test_a_row_reports_updates_not_time_steps(table):
    cells = table.row(record(steps=120 * 3000, accuracy=0.9998)).strip("| ").split(" | ")
    assert cells[0] == "SAB"
    assert cells[2:5] == ["100", "100", "99.98%"]  # two decimals where one would round a miss to 100%
    assert cells[-3:] == ["3000", "3000", "10 min"]


def test_a_label_names_what_differs_from_the_experiment_file(table):
    def labelled(**model):
        rec = record()
        rec["experiment"] = "copying_sab"  # hidden 128, grad_clip 1.0
        rec["config"]["model"].update({"grad_clip": 1.0, **model})
        return table.label(rec)
    assert labelled() == "SAB"
    assert labelled(grad_clip=0.1) == "SAB, gradient clip 0.1"
    assert labelled(hidden=144, grad_clip=0.1) == "SAB, hidden 144, gradient clip 0.1"
    assert labelled(grad_clip_median=3.0, grad_clip_window=200) == "SAB, clip at 3x the median of 200 norms"
    assert labelled(grad_clip_median=0.0) == "SAB"  # off, as in every record before it existed
    rec = record()
    rec["config"]["train"].update(adam_beta2=0.99, adam_eps=1e-8)
    assert table.label(rec) == "SAB, Adam beta2 0.99 eps 1e-08"
    rec["config"]["train"].update(adam_beta2=0.999)  # torch's defaults, as in the earlier records
    assert table.label(rec) == "SAB"


def test_schedules_are_named_from_the_config(table):
    assert table.schedule(record()) == ""
    halving = record(steps=120 * 22500, decay=(120 * 1500, 120 * 17000))
    assert table.schedule(halving) == ", lr 0.001, x0.5 every 1,500 updates from 17,000"
    once = record(steps=120 * 26750, decay=(10 ** 9, 120 * 22750))
    assert table.schedule(once) == ", lr 0.001, 0.0005 from update 22,750"


def test_seed_summary_groups_only_runs_that_differ_in_their_seed(table, capsys):
    accuracies = [0.96, 0.9998, 0.96, 0.999]
    records = [record(seed=s, accuracy=a) for s, a in enumerate(accuracies)]
    records.append(record(seed=0, eval_T=200, accuracy=0.5))  # another tested length: its own group of one
    records.append(record(learner="bptt", seed=1, accuracy=0.3))  # another learner: its own group of one
    table.seed_summary(records)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| SAB")]
    assert len(lines) == 1
    cells = lines[0].strip("| ").split(" | ")
    percents = [100 * a for a in accuracies]
    assert cells[1:5] == ["100", "100", "1000", "4"]
    assert float(cells[5]) == pytest.approx(statistics.mean(percents), rel=1e-3)
    assert float(cells[6]) == pytest.approx(statistics.stdev(percents), rel=1e-2)


def test_every_recorded_sab_result_prints_one_row(table, capsys):
    # scripts/sab_table.py reads the `nobptt eval --out` list of before schema 1 (docs/results.md);
    # results/ now holds schema 1, so a cut of the old sab_copying_long.json stands in for it
    for path in [SCRIPTS.parent / "tests" / "fixtures" / "legacy" / "sab_copying_cut.json"]:
        records = json.loads(path.read_text())
        table.main([str(path)])
        rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "---" not in line]
        assert len(rows) == len(records) + 1  # the header and one row per evaluation


def test_a_missing_results_file_is_named_not_a_traceback(tmp_path):
    missing = tmp_path / "nope.json"
    done = subprocess.run([sys.executable, str(SCRIPT), str(missing)], capture_output=True, text=True)
    assert done.returncode == 2
    assert str(missing) in done.stderr and "Traceback" not in done.stderr
