"""Results files (``nobptt eval --out``): records are appended under a lock on the folder, so two
evaluations that finish together (the SAB scripts run two jobs side by side) both land."""
import json
import multiprocessing

from nobptt.report import add_record

KEY = ("run_dir", "split")


def append_many(path, worker, count):
    for i in range(count):
        add_record(path, {"run_dir": f"runs/w{worker}_{i}", "split": "test", "padding": "x" * 20000}, KEY)


def test_two_writers_side_by_side_lose_no_record(tmp_path):
    path = tmp_path / "results" / "r.json"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=append_many, args=(path, w, 25)) for w in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    names = sorted(r["run_dir"] for r in json.loads(path.read_text()))
    assert names == sorted(f"runs/w{w}_{i}" for w in range(2) for i in range(25))
    assert list(path.parent.iterdir()) == [path]  # no lock or temporary file left behind


def test_a_record_replaces_the_one_with_the_same_key(tmp_path):
    path = tmp_path / "r.json"
    add_record(path, {"run_dir": "a", "split": "test", "value": 1}, KEY)
    add_record(path, {"run_dir": "a", "split": "val", "value": 2}, KEY)
    add_record(path, {"run_dir": "a", "split": "test", "value": 3}, KEY)
    assert [(r["split"], r["value"]) for r in json.loads(path.read_text())] == [("val", 2), ("test", 3)]
