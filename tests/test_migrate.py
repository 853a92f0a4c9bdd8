"""The one-time migration of results/ into schema 1 (nobptt.records.migrate): every number kept,
nothing that was not recorded pretended (a dirty tree stays unpinned, prose commits become notes)."""
import csv
import io
import json
import subprocess
from pathlib import Path

import pytest

from nobptt.records.io import load_bench_csv, write_text
from nobptt.records.migrate import legacy_shape, migrate_csv, migrate_folder, migrate_json
from nobptt.errors import RecordError
from nobptt.records.schema import BENCH_HEADER

ROOT = Path(__file__).resolve().parents[1]
LEGACY = Path(__file__).parent / "fixtures" / "legacy"
LAST_LEGACY = "554d730"  # the last commit whose results/ holds the formats before schema 1


def fixture(name):
    return json.loads((LEGACY / name).read_text())


def numbers(obj):
    """Every numeric leaf (booleans are not numbers here)."""
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in numbers(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in numbers(v)]
    return [obj] if isinstance(obj, (int, float)) and not isinstance(obj, bool) else []


def metric_leaves(data):
    """The legacy file's metric values: what a table is made of."""
    shape = legacy_shape(data)
    if shape == "report":
        # one run: its metric is a number (docs/results.md), its std of 0 is not repeated
        return [v for m in data["metrics"].values()
                for v in [m["mean"], *([m["std"]] if len(m["per_seed"]) > 1 else []), *m["per_seed"]]]
    if shape == "eval":
        return [v for x in data for v in x["metrics"].values()]
    if shape == "lm_evaluate":
        return [data[s][k] for s in ("valid", "test") for k in ("perplexity_model", "perplexity_mixture")]
    if shape == "kn5":
        return [data[s]["perplexity"] for s in ("valid", "test")]
    if shape == "denormals":
        return [v for rows in (data["training_10_updates"], data["bench_lstm_bptt_T10000"]) for r in rows
                for k, v in r.items() if k != "flush_denormal"]
    raise AssertionError(shape)


def migrated_metric_values(new):
    out = []
    for record in new["records"]:
        for value in [*record["metrics"].values(), *(m for r in record["runs"] for m in r["metrics"].values())]:
            out += [value["mean"], value["std"], *value["values"]] if isinstance(value, dict) else [value]
        for summary in record.get("details", {}).get("summary_over_labels_as_recorded", {}).values():
            out += [summary["mean"], summary["std"]]
    return out


def assert_keeps_every_number(old, new):
    values = migrated_metric_values(new)
    missing = [v for v in metric_leaves(old) if v not in values]
    assert not missing, f"metric values lost by the migration: {missing[:5]}"
    everywhere = set(numbers(new))
    assert not [v for v in numbers(old) if v not in everywhere]


@pytest.mark.parametrize("name", ["report_seeds.json", "report_labels.json", "eval_list.json",
                                  "lm_evaluate.json", "kn5.json", "denormals.json"])
def test_each_legacy_shape_migrates_keeping_every_number(name):
    old = fixture(name)
    new = migrate_json(Path(name).stem, old)
    assert new["schema"] == 1 and all(r["schema"] == 1 for r in new["records"])
    assert_keeps_every_number(old, new)
    assert migrate_json(Path(name).stem, new) == new  # a second run leaves it alone


def test_a_multi_seed_report_keeps_mean_std_and_per_run_provenance():
    old = fixture("report_seeds.json")
    [record] = migrate_json("report_seeds", old)["records"]
    acc = record["metrics"]["accuracy"]
    assert acc["mean"] == old["metrics"]["heldout_accuracy"]["mean"] and acc["n"] == 2
    assert acc["values"] == [r["metrics"]["accuracy"] for r in record["runs"]]
    assert record["metrics"]["best_prequential_accuracy"]["values"] == \
        old["metrics"]["prequential_accuracy_best"]["per_seed"]
    first, second = (r["training"] for r in record["runs"])
    assert first["commit"] == old["commit"] and first["clean"] is True
    # the old format kept the first run's commit only: the second's is unknown, not copied
    assert second["commit"] is None and second["clean"] is None and old["commit"] in second["note"]
    assert second["hardware"] == old["hardware_per_run"][1]
    assert record["kind"] == "training" and record["split"] == "valid" and record["learner"] == "pbrsm"
    assert list(record["curves"]) == ["seed0", "seed1"]


def test_a_labelled_report_becomes_one_record_per_config_and_a_prose_commit_a_note():
    old = fixture("report_labels.json")
    records = migrate_json("report_labels", old)["records"]
    assert [r["label"] for r in records] == old["labels"]
    assert [r["learner"] for r in records] == ["pbrsm", "lstm"]
    assert records[1]["runs"][0]["parameters"] is None  # recorded only for the first config
    training = records[0]["runs"][0]["training"]
    assert training["commit"] is None and training["clean"] is None and old["commit"] in training["note"]


def test_eval_records_get_unit_names_presets_and_honest_provenance():
    old = fixture("eval_list.json")
    records = migrate_json("eval_list", old)["records"]
    assert [r["learner"] for r in records] == ["sab_lstm_tbptt5", "sab_selfattn", "sab_lstm_tbptt5",
                                               "sab_lstm_bptt", "sab"]
    resumed = records[0]["runs"][0]["training"]["resumed"][0]
    assert resumed["commit"] == old[0]["train_resumed"][0]["commit"][:40] and resumed["clean"] is False
    assert resumed["at_step"] == 60000
    assert records[1]["runs"][0]["training"]["resumed"] == []
    assert records[3]["runs"][0]["training"]["resumed"] is None  # not recorded then: unknown, not []
    copying = records[3]
    assert copying["split"] == "valid" and copying["runs"][0]["overrides"] == ["task.eval_T=200"]
    assert "test_reads" not in copying and records[0]["test_reads"] is None
    assert copying["metrics"]["accuracy"] == old[3]["metrics"]["heldout_accuracy"]
    # the SAB tables' names: learner, then training length and budget (not the run folder's name)
    assert copying["label"] == "LSTM, full BPTT; T = 100, 3,000 updates"
    assert records[0]["label"] == records[2]["label"] == "LSTM, truncated BPTT (k = 5); T = 200, 2,000 updates"
    assert records[4]["label"].startswith("LSTM, truncated BPTT (k = 10)")
    char = records[4]
    assert char["task"] == "ptb_char" and char["metrics"]["nll_nats"] == old[4]["metrics"]["heldout_nll"]
    assert char["metrics"]["bpc"] == pytest.approx(old[4]["metrics"]["heldout_nll"] / 0.6931471805599453)


def test_a_dirty_commit_is_never_made_clean():
    old = fixture("lm_evaluate.json")
    assert old["commit"].endswith("-dirty")  # evaluated from a dirty tree, trained from a clean one
    valid, test = migrate_json("lm_evaluate", old)["records"]
    evaluation, training = test["runs"][0]["evaluation"], test["runs"][0]["training"]
    assert evaluation["commit"] == old["commit"][:40] and evaluation["clean"] is False
    assert evaluation["diff"] is None and evaluation["at"] is None
    assert training["commit"] == old["training"]["commit"] and training["clean"] is True
    assert (valid["split"], test["split"]) == ("valid", "test")
    assert test["metrics"] == {"perplexity": old["test"]["perplexity_model"],
                               "mixture_perplexity": old["test"]["perplexity_mixture"]}


def test_bench_csvs_get_the_one_header_and_keep_every_cell():
    for name in ("bench_memory.csv", "bench_speed.csv"):
        text = (LEGACY / name).read_text()
        new = migrate_csv(text)
        assert new.splitlines()[0].split(",") == BENCH_HEADER
        old_rows, new_rows = list(csv.DictReader(io.StringIO(text))), list(csv.DictReader(io.StringIO(new)))
        assert len(old_rows) == len(new_rows)
        for old, row in zip(old_rows, new_rows):
            assert row["wall_time_s"] == old["wall_seconds"]
            if "seconds" in old:
                assert row["seconds_per_sequence"] == old["seconds"]
                assert row["peak_rss_above_idle_bytes"] == old["peak_rss_above_idle"]
            assert row["commit"] == old["commit"][:40] and row["clean"] == "false"
            kept = set(row.values())
            assert all(v in kept for k, v in old.items() if k not in ("commit", "name"))


def test_migrate_folder_rewrites_older_files_and_leaves_schema_1_alone(tmp_path):
    for name in ("report_seeds.json", "kn5.json", "bench_speed.csv"):
        write_text(tmp_path / name, (LEGACY / name).read_text())
    lines = migrate_folder(tmp_path)
    assert len(lines) == 3 and all("migrated" in line for line in lines)
    assert load_bench_csv(tmp_path / "bench_speed.csv")
    assert all("already" in line for line in migrate_folder(tmp_path))


def _git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def _without_label(record):
    return {k: v for k, v in record.items() if k != "label"}


def _bench_rows(text, path):
    write_text(path, text)
    return load_bench_csv(path)


def test_the_committed_migration_of_results_keeps_every_metric_value(tmp_path):
    """Every legacy file at the last legacy commit, migrated again, keeps each metric value, and
    each of its records is in the file committed in results/. Labels are presentation (they follow
    the experiment files, which may change) and later records may be added to a file, so neither
    breaks this check; a changed number or provenance does."""
    if _git("cat-file", "-e", f"{LAST_LEGACY}^{{commit}}").returncode != 0:
        pytest.skip(f"the git history does not hold {LAST_LEGACY} (a shallow clone or an archive)")
    names = [n for n in _git("ls-tree", "--name-only", LAST_LEGACY, "results/").stdout.split()
             if n.endswith(".json") or (Path(n).name.startswith("bench_") and n.endswith(".csv"))]
    assert len(names) >= 30
    for name in names:
        old_text = _git("show", f"{LAST_LEGACY}:{name}").stdout
        committed = (ROOT / name).read_text()
        if name.endswith(".csv"):  # rows may be added after the migrated ones, never changed
            # compared as rows: a file may also have gained the columns added since (read as empty)
            migrated = _bench_rows(migrate_csv(old_text), tmp_path / "migrated.csv")
            assert _bench_rows(committed, tmp_path / "committed.csv")[:len(migrated)] == migrated, name
            continue
        old = json.loads(old_text)
        new = migrate_json(Path(name).stem, old)
        assert_keeps_every_number(old, new)
        kept = [_without_label(r) for r in json.loads(committed)["records"]]
        missing = [i for i, r in enumerate(new["records"]) if _without_label(r) not in kept]
        assert not missing, f"{name}: migrated records {missing[:5]} are not in the committed file"


def test_a_bench_csv_from_before_the_trace_columns_loads_and_migrates_keeping_kind_and_cells(tmp_path):
    from nobptt.records.schema import BENCH_ADDED, BENCH_HEADER_BEFORE

    recorded = load_bench_csv(ROOT / "results" / "bench_memory.csv")
    out = io.StringIO()  # the file as written before issue 39
    writer = csv.DictWriter(out, fieldnames=BENCH_HEADER_BEFORE, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(recorded)
    old_text = out.getvalue()
    old = _bench_rows(old_text, tmp_path / "old.csv")
    assert old and all(r["kind"] == "memory" and all(r[c] == "" for c in BENCH_ADDED) for r in old)
    new_text = migrate_csv(old_text)
    assert new_text.splitlines()[0].split(",") == BENCH_HEADER
    assert _bench_rows(new_text, tmp_path / "new.csv") == old  # every cell kept, kind too
    bad = tmp_path / "bad.csv"
    write_text(bad, old_text.replace("saved_bytes", "saved"))
    with pytest.raises(RecordError, match="header"):
        load_bench_csv(bad)
