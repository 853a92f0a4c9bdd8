"""Record files (docs/results.md): checked on every load with errors that name the file and field,
written atomically, and records added under a lock on the folder, so two evaluations that finish
together (the SAB scripts run two jobs side by side) both land."""
import json
import multiprocessing

import pytest

from nobptt.errors import RecordError
from nobptt.records.io import add_records, load_all, load_file, write_file

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def provenance(**extra):
    return {"command": "nobptt train", "commit": COMMIT, "clean": True, "diff": None, "hardware": {"cpu": "x"},
            "device": "cpu", "torch": "2", "python": "3.11", "wall_time_s": 1.0, **extra}


def record(run_dir="runs/a_s0", split="test", accuracy=0.5, seed=0):
    evaluation = {**provenance(), "checkpoint": "best.pt", "step": 10, "split": split, "at": "2026-01-01T00:00:00"}
    run = {"seed": seed, "run_dir": run_dir, "config": {}, "overrides": [], "parameters": 3, "steps": 10,
           "metrics": {"accuracy": accuracy}, "training": provenance(resumed=[]), "evaluation": evaluation}
    out = {"schema": 1, "kind": "evaluation", "label": "a", "task": "copying", "learner": "sab",
           "experiment": "copying_sab", "split": split, "metrics": {"accuracy": accuracy}, "runs": [run]}
    if split == "test":
        out["test_reads"] = 1
    return out


def append_many(path, worker, count):
    for i in range(count):
        r = record(f"runs/w{worker}_{i}")
        r["details"] = {"padding": "x" * 20000}
        add_records(path, [r])


def test_two_writers_side_by_side_lose_no_record(tmp_path):
    path = tmp_path / "results" / "r.json"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=append_many, args=(path, w, 25)) for w in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    names = sorted(r["runs"][0]["run_dir"] for r in load_file(path)["records"])
    assert names == sorted(f"runs/w{w}_{i}" for w in range(2) for i in range(25))
    assert list(path.parent.iterdir()) == [path]  # no lock or temporary file left behind


def test_a_record_replaces_the_one_of_the_same_run_checkpoint_split_and_overrides(tmp_path):
    path = tmp_path / "r.json"
    add_records(path, [record(accuracy=0.1)])
    add_records(path, [record(split="valid", accuracy=0.2)])
    add_records(path, [record(accuracy=0.3)])
    assert [(r["split"], r["metrics"]["accuracy"]) for r in load_file(path)["records"]] == \
        [("valid", 0.2), ("test", 0.3)]


@pytest.mark.parametrize("change,field,words", [
    (lambda r: r["runs"][0]["training"].update(commit="abc1234"), "records[0].runs[0].training.commit",
     "not a 40-hex commit"),
    (lambda r: r["runs"][0]["training"].update(commit=COMMIT + "-dirty"), "records[0].runs[0].training.commit",
     "not a 40-hex commit"),
    (lambda r: r["metrics"].update(heldout_thing=1.0), "records[0].metrics.heldout_thing", "carries no unit"),
    (lambda r: r["metrics"].update(accuracy=88.2), "records[0].metrics.accuracy", "never a percent"),
    (lambda r: r.pop("learner"), "records[0].learner", "missing"),
    (lambda r: r.update(split="heldout"), "records[0].split", "'heldout' is not one of"),
    (lambda r: r["runs"][0].pop("evaluation"), "records[0].runs[0].evaluation", "missing"),
    (lambda r: r.update(test_reads="two"), "records[0].test_reads", "not an integer"),
    (lambda r: r["runs"][0]["training"].update(clean=True, commit=None), "records[0].runs[0].training.clean",
     "without a commit"),
])
def test_a_malformed_record_fails_naming_the_file_and_the_field(tmp_path, change, field, words):
    bad = record()
    change(bad)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"schema": 1, "name": "bad", "records": [bad]}))
    with pytest.raises(RecordError) as err:
        load_file(path)
    assert str(err.value).startswith(f"{path}: {field}: ") and words in str(err.value)


def test_an_older_format_or_a_wrong_name_is_refused_with_what_to_do(tmp_path):
    (tmp_path / "old.json").write_text("[]")
    with pytest.raises(RecordError, match="old.json.*nobptt.records.migrate"):
        load_file(tmp_path / "old.json")
    with pytest.raises(RecordError, match=r"name: 'other' is not the file's stem 'r'"):
        write_file(tmp_path / "r.json", {"schema": 1, "name": "other", "records": [record()]})
    assert not (tmp_path / "r.json").exists()  # nothing half-written


def test_load_all_reads_every_record_file(tmp_path):
    write_file(tmp_path / "a.json", {"schema": 1, "name": "a", "records": [record()]})
    (tmp_path / "a.png").write_bytes(b"png")
    assert list(load_all(tmp_path)) == ["a"]
