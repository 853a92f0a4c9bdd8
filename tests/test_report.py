"""``nobptt report``: one training record per config, each run with its own provenance (the older
format kept only the first run's commit and hardware), refused for runs from a dirty tree."""
import json

import pytest

from nobptt.errors import RecordError
from nobptt.records import provenance
from nobptt.records.io import load_file
from nobptt.report import record_result

SHAS = ["1" * 40, "2" * 40]


def fake_run(folder, seed, commit, cpu, accuracies, resumed=None, clean=True):
    folder.mkdir(parents=True)
    meta = {"experiment": "ssmnist_pbrsm", "command": f"nobptt train --seed {seed}", "parameters": 7,
            "config": {"task": {"name": "ssmnist"}, "model": {"name": "pbrsm"}, "train": {"seed": seed}},
            "hardware": {"cpu": cpu}, "device": "cpu", "torch": "2.13", "python": "3.11", "commit": commit,
            "clean": clean, "ceilings": {"bayes": 0.8889}}
    if resumed:
        meta["resumed"] = resumed
    (folder / "config.json").write_text(json.dumps(meta))
    rows = [{"step": 100 * (i + 1), "wall_time_s": 10.0 * (i + 1), "prequential_accuracy": a - 0.01,
             "heldout_accuracy": a} for i, a in enumerate(accuracies)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.fixture
def clean_tree(monkeypatch):
    monkeypatch.setattr(provenance, "tree_state", lambda root=None: {"commit": SHAS[1], "clean": True, "dirty": []})


def test_each_run_keeps_its_own_commit_and_hardware(tmp_path, clean_tree):
    runs = [fake_run(tmp_path / "s0", 0, SHAS[0], "AMD EPYC", [0.5, 0.8]),
            fake_run(tmp_path / "s1", 1, SHAS[1], "Intel Xeon", [0.6, 0.9, 0.85])]
    path = record_result(runs, "two_seeds", tmp_path / "reports", note="why")
    data = load_file(path)
    [record] = data["records"]
    assert data["note"] == "why" and record["label"] == "partitioned bRSM" and record["learner"] == "pbrsm"
    assert [r["training"]["commit"] for r in record["runs"]] == SHAS
    assert [r["training"]["hardware"]["cpu"] for r in record["runs"]] == ["AMD EPYC", "Intel Xeon"]
    assert [r["steps"] for r in record["runs"]] == [200, 300]
    accuracy = record["metrics"]["accuracy"]
    assert accuracy["values"] == [0.8, 0.85] and accuracy["n"] == 2
    assert accuracy["mean"] == pytest.approx(0.825) and accuracy["std"] == pytest.approx(0.0353553, rel=1e-5)
    assert record["metrics"]["best_accuracy"]["values"] == [0.8, 0.9]
    assert record["details"]["recorded_from"] == {"commit": SHAS[1], "clean": True, "diff": None}
    assert path.with_suffix(".png").exists()


def test_labels_make_one_record_per_config(tmp_path, clean_tree):
    runs = [fake_run(tmp_path / "a", 0, SHAS[0], "x", [0.5]), fake_run(tmp_path / "b", 0, SHAS[0], "x", [0.7])]
    records = load_file(record_result(runs, "side", tmp_path, labels=["A", "B"]))["records"]
    assert [(r["label"], r["metrics"]["accuracy"]) for r in records] == [("A", 0.5), ("B", 0.7)]
    with pytest.raises(RecordError, match="1 labels for 2 runs"):
        record_result(runs, "side", tmp_path, labels=["A"])


def test_a_run_resumed_from_a_dirty_tree_is_refused_unless_allowed(tmp_path, clean_tree):
    resumed = [{"command": "nobptt train --resume", "at_step": 100, "commit": SHAS[0], "clean": False}]
    run = fake_run(tmp_path / "r", 0, SHAS[0], "x", [0.5, 0.6], resumed=resumed)
    with pytest.raises(RecordError, match="--allow-dirty"):
        record_result([run], "dirty", tmp_path / "reports")
    assert not (tmp_path / "reports").exists()
    [record] = load_file(record_result([run], "dirty", tmp_path / "reports", allow_dirty=True))["records"]
    [resume] = record["runs"][0]["training"]["resumed"]
    assert resume["clean"] is False and resume["at_step"] == 100


def test_an_old_run_folder_with_a_dirty_commit_string_is_not_clean(tmp_path, clean_tree):
    run = fake_run(tmp_path / "old", 0, SHAS[0] + "-dirty", "x", [0.5], clean=None)
    meta = json.loads((run / "config.json").read_text())
    del meta["clean"]  # written before schema 1
    (run / "config.json").write_text(json.dumps(meta))
    [record] = load_file(record_result([run], "old", tmp_path, allow_dirty=True))["records"]
    training = record["runs"][0]["training"]
    assert (training["commit"], training["clean"]) == (SHAS[0], False)
