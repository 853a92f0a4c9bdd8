"""Record labels (nobptt.records.labels): the SAB tables' names, what a config changes from its
experiment file, its schedule, and updates counted per episode; seeds of one config share a label
(one row of `nobptt results`), two configs never do."""
import json
import statistics
from collections import defaultdict
from pathlib import Path

import pytest

from nobptt.records.io import write_file
from nobptt.records.labels import eval_length, record_label, schedule, updates
from nobptt.records.tables import format_metric, table_from_args

ROOT = Path(__file__).resolve().parents[1]
L = 120  # copying, T = 100: T + 2 x 10 steps per update


def config(T=100, steps=L * 1000, decay=None, eval_T=None, **model):
    """A resolved copying config of SAB in the current layout ([optim])."""
    optim = {"lr": 0.001, "grad_clip": 1.0}
    if decay:
        optim.update(lr_decay=0.5, lr_decay_every=decay[0], lr_decay_from=decay[1])
    task = {"name": "copying", "T": T, **({"eval_T": eval_T} if eval_T else {})}
    return {"task": task, "model": {"name": "sab", "hidden": 128, **model}, "optim": optim,
            "train": {"steps": steps, "seed": 0}}


def test_updates_count_episodes_not_time_steps():
    assert updates(config(), L * 3000) == 3000
    assert updates({"task": {"name": "adding", "T": 200}, "model": {}}, 200 * 7) == 7
    assert updates({"task": {"name": "ptb_char"}, "model": {"window": 100}}, 1000) == 10
    assert eval_length(config()) == 100 and eval_length(config(eval_T=500)) == 100 * 5


def test_a_label_names_the_learner_and_what_differs_from_the_experiment_file():
    def labelled(optim=None, **model):
        c = config(**model)
        c["optim"].update(optim or {})
        return record_label(c, "copying_sab").split(";")[0]  # hidden 128, grad_clip 1.0 there

    assert labelled() == "SAB"
    assert labelled({"grad_clip": 0.1}) == "SAB, gradient clip 0.1"
    assert labelled({"grad_clip": 0.1}, hidden=144) == "SAB, hidden 144, gradient clip 0.1"
    assert labelled({"grad_clip_median": 3.0, "grad_clip_window": 200}) == "SAB, clip at 3x the median of 200 norms"
    assert labelled({"grad_clip_median": 0.0}) == "SAB"  # off, as in every record before it existed
    assert labelled({"grad_clip_early_updates": 2000}) == "SAB, clip 1 for the first 2,000 updates"
    assert labelled({"adam_beta2": 0.99, "adam_eps": 1e-8}) == "SAB, Adam beta2 0.99 eps 1e-08"
    assert labelled({"adam_beta2": 0.999}) == "SAB"  # torch's defaults, as in the earlier records
    assert labelled(attention="none", k_trunc=5) == "LSTM, truncated BPTT (k = 5)"
    assert labelled(attention="none", k_trunc=0, forget_bias=1.0) == "LSTM, full BPTT, forget bias +1"
    assert labelled(attention="dense", k_trunc=0, k_att=1) == "LSTM + self-attention, full BPTT"


def test_an_old_layout_config_gets_the_same_label():
    old = config()
    old["model"].update(lr=old["optim"].pop("lr"), grad_clip=0.1)
    del old["optim"]
    assert record_label(old, "copying_sab") == "SAB, gradient clip 0.1; T = 100, 1,000 updates"


def test_schedules_are_named_from_the_config():
    assert schedule(config()) == ""
    halving = config(steps=L * 22500, decay=(L * 1500, L * 17000))
    assert schedule(halving) == ", lr 0.001, x0.5 every 1,500 updates from 17,000"
    once = config(steps=L * 26750, decay=(10 ** 9, L * 22750))
    assert schedule(once) == ", lr 0.001, 0.0005 from update 22,750"
    assert record_label(halving, "copying_sab") == \
        "SAB, lr 0.001, x0.5 every 1,500 updates from 17,000; T = 100, 22,500 updates"


def test_other_learners_get_a_short_description():
    assert record_label({"task": {"name": "ssmnist"}, "model": {"name": "pbrsm"}}) == "partitioned bRSM"
    assert record_label({"task": {"name": "ssmnist"}, "model": {"name": "lstm", "k1": 10, "k2": 10}}) == \
        "LSTM tBPTT k1=k2=10"
    longer = {"task": {"name": "ssmnist"}, "model": {"name": "pbrsm"}, "train": {"steps": 30000}}
    assert record_label(longer, "ssmnist_pbrsm") == "partitioned bRSM, 30,000 steps"  # the file's: 10,000


def test_a_field_set_back_to_the_learners_default_is_named():
    """freq_plstm has 110 units; a run at the learner's default 32 (results/recipes/freq_online.sh)
    must not read as the file's 110."""
    from nobptt.learners.registry import get_learner_spec

    default = get_learner_spec("bptt").config_cls().hidden
    small = {"task": {"name": "freq"}, "model": {"name": "bptt", "cell": "plstm", "hidden": default}}
    assert f"hidden {default}" in record_label(small, "freq_plstm")
    assert "hidden" not in record_label(small)  # no file: only what differs from the learner's defaults
    assert "hidden 110" in record_label({**small, "model": {**small["model"], "hidden": 110}})


def test_a_decay_that_starts_after_the_budget_is_not_named():
    """copying_sab_long's decay starts at update 27,000: a run of 5,000 updates (issue 41's T = 200
    and 300) trains at a constant rate, and its label says no decay."""
    long = config(decay=(L * 1500, L * 27000), steps=L * 5000)
    assert record_label(long, "copying_sab") == "SAB; T = 100, 5,000 updates"
    within = config(decay=(L * 1500, L * 4000), steps=L * 5000)
    assert record_label(within, "copying_sab") == "SAB, lr 0.001, 0.0005 from update 4,000; T = 100, 5,000 updates"


def test_a_constant_rate_other_than_the_experiment_files_is_named():
    probe = config(steps=L * 5000)
    probe["optim"]["lr"] = 0.004
    assert record_label(probe, "copying_sab") == "SAB, lr 0.004; T = 100, 5,000 updates"
    assert record_label(config(steps=L * 5000), "copying_sab") == "SAB; T = 100, 5,000 updates"


def test_task_settings_that_change_the_measurement_are_named():
    """Two protocols of character PTB, or two samplings of the frequency task, never share a row."""
    cells = {"task": {"name": "ptb_char", "protocol": "windows"}, "model": {"name": "tbptt", "cell": "rhn:5"}}
    assert record_label(cells).endswith(", windows protocol")
    assert "protocol" not in record_label({**cells, "task": {"name": "ptb_char", "protocol": "stream"}})
    freq = {"task": {"name": "freq", "sampling": "async"}, "model": {"name": "bptt", "cell": "plstm"}}
    assert record_label(freq).endswith(", async sampling")
    assert record_label({**freq, "task": {"name": "freq", "variant": "combo", "sampling": "async"}}).endswith(
        ", task 2, async sampling")
    assert "sampling" not in record_label({**freq, "task": {"name": "freq", "sampling": "1ms"}})


def _evaluation(c, seed, accuracy, overrides=()):
    c = json.loads(json.dumps(c))
    c["train"]["seed"] = seed
    prov = {"command": "c", "commit": "0" * 40, "clean": True, "diff": None, "hardware": None, "device": "cpu",
            "torch": "2", "python": "3", "wall_time_s": 60.0}
    run = {"seed": seed, "run_dir": f"runs/copying_sab_T100_s{seed}", "config": c, "overrides": list(overrides), "parameters": 5,
           "steps": c["train"]["steps"], "metrics": {"accuracy": accuracy}, "training": {**prov, "resumed": []},
           "evaluation": {**prov, "checkpoint": "best.pt", "step": c["train"]["steps"] - L * 10, "split": "test",
                          "at": None}}
    return {"schema": 1, "kind": "evaluation", "label": record_label(c, "copying_sab"), "task": "copying",
            "learner": "sab", "experiment": "copying_sab", "split": "test", "metrics": {"accuracy": accuracy},
            "test_reads": 1, "runs": [run]}


def test_seeds_of_one_config_are_one_row_and_other_configs_their_own(tmp_path):
    accuracies = [0.96, 0.9998, 0.96, 0.999]
    records = [_evaluation(config(), s, a) for s, a in enumerate(accuracies)]
    records.append(_evaluation(config(T=200, steps=220 * 1000), 0, 0.5))  # another training length
    records.append(_evaluation(config(steps=L * 2000), 0, 0.7))  # another budget (a continuation)
    records.append(_evaluation(config(eval_T=500), 0, 0.4, ["task.eval_T=500"]))  # tested longer: its own row
    write_file(tmp_path / "sab.json", {"schema": 1, "name": "sab", "records": records})
    lines = table_from_args(["--columns", "label,n,T,eval_T,updates,total_updates,accuracy"],
                            tmp_path).splitlines()[2:]
    mean = f"{format_metric('accuracy', accuracies)}"
    assert mean.startswith(f"{100 * statistics.mean(accuracies):.2f} ± {100 * statistics.stdev(accuracies):.2f}")
    assert lines == [f"| SAB; T = 100, 1,000 updates | 4 | 100 | 100 | 990 | 1000 | {mean} |",
                     "| SAB; T = 200, 1,000 updates | 1 | 200 | 200 | 994 | 1000 | 50.00% |",
                     "| SAB; T = 100, 2,000 updates | 1 | 100 | 100 | 1990 | 2000 | 70.00% |",
                     "| SAB; T = 100, 1,000 updates | 1 | 100 | 500 | 990 | 1000 | 40.00% |"]


def test_nobptt_eval_labels_a_record_by_the_same_rule(tmp_path):
    """(`nobptt report` likewise: tests/test_report.py.)"""
    from nobptt.records.build import evaluation_record

    c = config(decay=(L * 1500, L * 500))
    meta = {"experiment": "copying_sab", "config": c, "commit": "0" * 40, "clean": True}
    rows = [{"step": L, "wall_time_s": 1.0, "heldout_accuracy": 0.5}]
    evaluation = {"split": "valid", "checkpoint": "best.pt", "step": L}
    expected = "SAB, lr 0.001, 0.0005 from update 500; T = 100, 1,000 updates"
    assert evaluation_record(tmp_path, meta, rows, c, evaluation, {"accuracy": 0.5}, [])["label"] == expected


IGNORED = {("train", "seed"), ("train", "device"), ("train", "threads"), ("train", "progress")}


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "results").glob("*.json")))
def test_no_label_in_results_joins_runs_of_different_configs(name):
    """Within a file (every record file in results/), the runs of one row (label, split, eval overrides) differ at most in their
    seed and where they ran, or in a field an older config did not have yet."""
    from nobptt.config import upgrade_config

    rows = defaultdict(list)
    for record in json.loads((ROOT / "results" / f"{name}.json").read_text())["records"]:
        for run in record.get("runs", []):
            if not run.get("config"):  # a benchmark record (denormals) has no run config
                continue
            flat = {(s, k): v for s, section in upgrade_config(run["config"]).items() if isinstance(section, dict)
                    for k, v in section.items() if (s, k) not in IGNORED}
            rows[(record["label"], record.get("task"), record["split"], tuple(run["overrides"]))].append(flat)
    for key, configs in rows.items():
        fields = set().union(*configs)
        differ = [f for f in fields if len({json.dumps(c[f]) for c in configs if f in c}) > 1]
        assert not differ, f"{name}: row {key} joins configs that differ in {differ}"
