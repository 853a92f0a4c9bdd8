"""Tables: every table in README.md and docs/ is the output of `nobptt results` on results/ (no
hand-copied number), and the generator groups seeds, formats units and marks unpinned code."""
import statistics
from pathlib import Path

import pytest

from nobptt.errors import RecordError
from nobptt.records.io import write_file, write_text
from nobptt.records.tables import DAGGER, blocks, format_metric, table_from_args, update_docs

ROOT = Path(__file__).resolve().parents[1]
SHA = "0123456789abcdef0123456789abcdef01234567"


def test_every_table_in_readme_and_docs_is_what_nobptt_results_generates():
    stale = [f"{path.relative_to(ROOT)}: <!-- results: {args} -->" for path, args, text, generated in
             blocks(ROOT, ROOT / "results") if text != generated]
    assert not stale, "tables differ from `nobptt results` (run `nobptt results --update-docs`): " + "; ".join(stale)


def run(seed, accuracy, nll, overrides=(), clean=True):
    prov = {"command": "c", "commit": SHA, "clean": clean, "diff": None, "hardware": None, "device": "cpu",
            "torch": "2", "python": "3", "wall_time_s": 10.0 + seed}
    return {"seed": seed, "run_dir": f"runs/x_s{seed}", "config": {}, "overrides": list(overrides), "parameters": 5,
            "steps": 100, "metrics": {"accuracy": accuracy, "nll_nats": nll}, "training": {**prov, "resumed": []},
            "evaluation": {**prov, "checkpoint": "best.pt", "step": 100, "split": "test", "at": None}}


def record(label, learner, runs):
    metrics = runs[0]["metrics"] if len(runs) == 1 else {
        k: {"mean": 0.0, "std": 0.0, "n": len(runs), "values": [r["metrics"][k] for r in runs]}
        for k in runs[0]["metrics"]}
    return {"schema": 1, "kind": "evaluation", "label": label, "task": "copying", "learner": learner,
            "experiment": "copying_sab", "split": "test", "metrics": metrics, "test_reads": 1, "runs": runs}


@pytest.fixture
def results(tmp_path):
    folder = tmp_path / "results"
    records = [record("sab_T100", "sab", [run(0, 0.9, 0.3)]), record("sab_T100", "sab", [run(1, 1.0, 0.1)]),
               record("sab_T100", "sab", [run(0, 0.5, 1.0, ["task.eval_T=200"])]),
               record("bptt_T100", "sab_lstm_bptt", [run(0, 0.25, 2.0, clean=False)])]
    write_file(folder / "sab.json", {"schema": 1, "name": "sab", "records": records})
    return folder


def test_seeds_of_one_config_are_one_row_with_mean_and_std(results):
    text = table_from_args(["--learner", "sab", "--overrides", "none"], results)
    assert text.splitlines()[0] == "| label | learner | runs | accuracy | nll_nats |"
    assert text.splitlines()[2] == "| sab_T100 | sab | 2 | 95.00 ± 7.07% | 0.2 ± 0.14 |"


def test_eval_overrides_get_a_column_and_unpinned_code_a_dagger(results):
    lines = table_from_args(["--task", "copying"], results).splitlines()
    assert lines[0] == "| label | learner | eval overrides | runs | accuracy | nll_nats |"
    assert "| sab_T100 | sab | task.eval_T=200 | 1 | 50.00% | 1 |" in lines
    assert f"| bptt_T100 {DAGGER} | sab_lstm_bptt |  | 1 | 25.00% | 2 |" in lines
    assert lines[-1].startswith(f"{DAGGER} code not pinned")


def test_columns_and_csv(results):
    text = table_from_args(["--learner", "sab_lstm_bptt", "--columns", "label,seeds,accuracy", "--format", "csv"],
                           results)
    assert text == "label,seeds,accuracy,accuracy_std,pinned\nbptt_T100,0,0.25,,false\n"


def test_no_match_and_unknown_file_are_errors(results):
    with pytest.raises(RecordError, match="no record matches"):
        table_from_args(["--task", "ssmnist"], results)
    with pytest.raises(RecordError, match="--file nosuch"):
        table_from_args(["--file", "nosuch"], results)


@pytest.mark.parametrize("name,values,text", [
    ("accuracy", [0.8829], "88.29%"), ("best_prequential_accuracy", [0.5, 0.7], "60.00 ± 14.14%"),
    ("perplexity", [116.533], "116.53"), ("bpc", [1.6543], "1.654"), ("mse", [8.3e-5], "8.3e-05"),
    ("wall_time_s", [24.11], "24.1"),
])
def test_units_are_formatted_by_what_they_are(name, values, text):
    assert format_metric(name, values) == text


def test_update_docs_rewrites_each_block_and_the_check_then_passes(results, tmp_path):
    root = tmp_path
    example = "```\n<!-- results: --task nosuch -->\n| an example, not a table |\n<!-- /results -->\n```\n"
    doc = example + "intro\n<!-- results: --learner sab --overrides none -->\nold table\n<!-- /results -->\nend\n"
    write_text(root / "docs" / "sab.md", doc)
    [(path, args, text, generated)] = blocks(root, results)
    assert text == "old table\n" and args == "--learner sab --overrides none"
    assert update_docs(root, results) == [root / "docs" / "sab.md"]
    new = (root / "docs" / "sab.md").read_text()
    assert new.startswith(example + "intro\n<!-- results: --learner sab --overrides none -->\n| label |")
    assert new.endswith("|\n<!-- /results -->\nend\n") and "95.00 ± 7.07%" in new
    assert all(t == g for _, _, t, g in blocks(root, results)) and update_docs(root, results) == []


def test_a_bad_block_names_its_file(results, tmp_path):
    write_text(tmp_path / "README.md", "<!-- results: --nosuch -->\n<!-- /results -->\n")
    with pytest.raises(RecordError, match="README.md"):
        blocks(tmp_path, results)


def test_bench_csvs_are_tables_when_named(tmp_path):
    from nobptt.records.migrate import migrate_csv

    legacy = Path(__file__).parent / "fixtures" / "legacy" / "bench_speed.csv"
    write_text(tmp_path / "bench_speed.csv", migrate_csv(legacy.read_text()))
    text = table_from_args(["--file", "bench_speed", "--columns", "learner,train_steps_per_s,train_matmul_fraction"],
                           tmp_path)
    assert text.splitlines()[:3] == ["| learner | train_steps_per_s | train_matmul_fraction |", "|---|---|---|",
                                     f"| brsm {DAGGER} | 24.39 | 66.5% |"]


def test_the_committed_results_load_and_every_family_has_a_table():
    """The old README's tables as filters: ssMNIST, PTB, SAB (with transfer rows), benchmarks."""
    for args in (["--task", "ssmnist"], ["--task", "ptb_word"], ["--task", "copying", "--overrides", "only"],
                 ["--task", "adding"], ["--task", "ptb_char"], ["--file", "bench_speed"], ["--file", "bench_memory"]):
        text = table_from_args(args, ROOT / "results")
        assert text.count("\n") > 2, args


def test_the_results_command_prints_migrates_and_updates(results, tmp_path, capsys):
    from nobptt.cli import main

    assert main(["results", "--results", str(results), "--learner", "sab_lstm_bptt"]) == 0
    assert f"| bptt_T100 {DAGGER} |" in capsys.readouterr().out
    assert main(["results", "--results", str(results), "--task", "nosuch"]) == 2
    assert "no record matches" in capsys.readouterr().err
    legacy = Path(__file__).parent / "fixtures" / "legacy" / "kn5.json"
    write_text(results / "ptb_kn5.json", legacy.read_text())
    assert main(["results", "--results", str(results), "--migrate"]) == 0
    assert "ptb_kn5.json: migrated (kn5)" in capsys.readouterr().out
    assert main(["results", "--results", str(results), "--task", "ptb_word", "--split", "test"]) == 0
    assert "| KN5 | kneser_ney_5 | 1 | 141.19 |" in capsys.readouterr().out
    write_text(tmp_path / "README.md", "<!-- results: --file ptb_kn5 -->\n<!-- /results -->\n")
    assert main(["results", "--results", str(results), "--update-docs", "--root", str(tmp_path)]) == 0
    assert "141.19" in (tmp_path / "README.md").read_text()


def test_training_runs_stopped_at_different_steps_are_separate_rows(tmp_path):
    """A training record's metrics are read at the end of each run: two seeds cut at 88,400 and
    26,100 steps are two rows, never one mean."""
    from nobptt.records.io import load_file

    data = load_file(Path(__file__).resolve().parents[1] / "results" / "ssmnist_brsm.json")
    write_file(tmp_path / "ssmnist_brsm.json", data)
    lines = table_from_args(["--file", "ssmnist_brsm", "--columns", "label,seeds,steps,prequential_accuracy"],
                            tmp_path).splitlines()
    assert [line.split(" | ")[1:3] for line in lines[2:4]] == [["0", "88400"], ["1", "26100"]]


def test_headlines_read_ours_from_the_records_and_refuse_an_ambiguous_selection():
    from nobptt.records import headlines
    from nobptt.records.io import load_all

    files = load_all(Path(__file__).resolve().parents[1] / "results")
    text = headlines.headlines_table(files)
    assert len([line for line in text.splitlines() if line.startswith("| ")]) == 1 + len(headlines.HEADLINES)
    sab = next(h for h in headlines.HEADLINES if h.file == "sab_copying_long" and "SAB" in h.system)
    values = [run["metrics"]["accuracy"] for r in files["sab_copying_long"]["records"]
              if r["label"] == headlines.COPY_RECIPE and r["split"] == "test"
              for run in r["runs"] if not run["overrides"]]
    assert len(values) >= 6  # the six seeds of the headline recipe (more may be added)
    mean, std = 100 * statistics.fmean(values), 100 * statistics.stdev(values)
    assert headlines.headline_cell(files, sab).startswith(f"{mean:.2f} ± {std:.2f}%")
    loose = headlines.Headline("x", "y", "sab_copying_long", "accuracy", "-", "docs/sab.md", {"split": "test"})
    with pytest.raises(RecordError, match="matches .* rows"):
        headlines.headline_cell(files, loose)


def test_the_reproduce_table_has_every_experiment_with_its_header():
    from nobptt.config import list_experiments
    from nobptt.records.reproduce import experiments_rows

    rows = experiments_rows()
    assert [r[0].strip("`") for r in rows] == sorted(list_experiments())
    assert all(r[1].startswith("`nobptt train") and r[2] and r[3] for r in rows)


def test_every_experiment_is_in_some_generated_reproduce_table():
    """The README lists the main families' experiments and each family page its own: none may be
    left out of every table (an experiment whose header names a page without such a block)."""
    from nobptt.config import experiments_dir

    shown = set()
    for path, args, text, generated in blocks(ROOT, ROOT / "results"):
        if "--experiments" in args:
            shown |= {line.split("`")[1] for line in generated.splitlines() if line.startswith("| `")}
    missing = sorted(p.stem for p in experiments_dir().glob("*.toml") if p.stem not in shown)
    assert not missing, f"experiments in no reproduce table: {missing}"


def test_online_learner_labels_name_the_fields_a_run_changed():
    """Runs of one experiment file that differ by --set model.X (truncated BPTT k = 5 and 20 of
    add_online) must not share a table row."""
    from nobptt.records.labels import record_label

    def config(**model):
        return {"task": {"name": "add"}, "model": {"name": "tbptt", "hidden": 32, **model}, "optim": {},
                "train": {"steps": 10_000}}

    five, twenty = record_label(config(k=5, update_every=5), "add_online"), record_label(config(k=20, update_every=20), "add_online")
    assert five != twenty and "k 5" in five and "k 20" in twenty
    assert record_label({**config(), "model": {"name": "rtrl", "hidden": 32}}, "add_online") == "rtrl"


def test_curves_at_equal_steps_average_seeds_keep_common_steps_and_give_the_difference(tmp_path):
    folder = tmp_path / "results"
    a = {**record("float32", "brsm", [run(0, 0.5, 1.0)]),
         "curves": {"seed0": [{"step": 10, "heldout_perplexity": 120.0}, {"step": 20, "heldout_perplexity": 110.0},
                              {"step": 30, "memory_mse": 0.1}]}}
    b = {**record("bfloat16", "brsm", [run(0, 0.5, 1.0, clean=False)]),
         "curves": {"seed0": [{"step": 20, "heldout_perplexity": 110.5}, {"step": 30, "heldout_perplexity": 109.0}],
                    "seed1": [{"step": 20, "heldout_perplexity": 111.5}]}}
    write_file(folder / "lm.json", {"schema": 1, "name": "lm", "records": [a, b]})
    text = table_from_args(["--curve", "heldout_perplexity"], folder)
    lines = text.splitlines()
    assert lines[0] == f"| step | float32 | bfloat16 {DAGGER} | difference |"
    assert lines[2] == "| 20 | 110.00 | 111.00 | 1.00 |"  # step 10 and 30 are not in both; seeds averaged
    assert len([line for line in lines if line.startswith("| ")]) == 2 and "code not pinned" in text
    assert table_from_args(["--curve", "heldout_perplexity", "--format", "csv"], folder).splitlines()[1] == \
        "20,110.0,111.0,1.0"
    with pytest.raises(RecordError, match="--curve heldout_bpc: no selected record has a curve with it"):
        table_from_args(["--curve", "heldout_bpc"], folder)


def test_curves_per_seed_and_in_updates(tmp_path):
    """--per-seed: a column per seed's curve (a seed that broke down is not averaged away); where
    every run updates once per episode of one length (copying, T = 10: 30 steps), an updates column."""
    folder = tmp_path / "results"
    config = {"task": {"name": "copying", "T": 10, "recall": 10}, "model": {"name": "sab"}, "train": {"steps": 600}}
    runs = [{**run(seed, 0.5, 1.0), "config": config} for seed in (0, 1)]
    sab = {**record("SAB", "sab", runs),
           "curves": {"seed0": [{"step": 300, "heldout_accuracy": 0.3}, {"step": 600, "heldout_accuracy": 0.9}],
                      "seed1": [{"step": 300, "heldout_accuracy": 0.3}, {"step": 600, "heldout_accuracy": 0.1}]}}
    write_file(folder / "copying.json", {"schema": 1, "name": "copying", "records": [sab]})
    lines = table_from_args(["--curve", "heldout_accuracy", "--per-seed"], folder).splitlines()
    assert lines[0] == "| step | updates | SAB, seed 0 | SAB, seed 1 |"
    assert lines[3] == "| 600 | 20 | 90.00% | 10.00% |"
    assert table_from_args(["--curve", "heldout_accuracy"], folder).splitlines()[3] == "| 600 | 20 | 50.00% |"
