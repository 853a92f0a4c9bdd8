"""Provenance that cannot lie (nobptt.records.provenance): a record from a dirty tree is refused
unless --allow-dirty, which saves the diff; commits are 40 hex; test reads are counted."""
import subprocess
import warnings

import pytest

from nobptt.errors import RecordError
from nobptt.records import provenance
from nobptt.records.build import split_commit
from nobptt.records.io import load_file
from nobptt.records.provenance import (RepeatedTestReadWarning, check_trained_clean, count_test_read, tree_state,
                                       writing_provenance)

SHA = "0123456789abcdef0123456789abcdef01234567"


def git(root, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True,
                   capture_output=True)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.delenv("NOBPTT_COMMIT", raising=False)
    root = tmp_path / "repo"
    (root / "nobptt").mkdir(parents=True)
    (root / "nobptt" / "a.py").write_text("x = 1\n")
    (root / "README.md").write_text("readme\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_a_clean_tree_gives_its_commit(repo, tmp_path):
    state = tree_state(repo)
    assert state["clean"] is True and len(state["commit"]) == 40
    assert writing_provenance(tmp_path / "out", "r", False, repo) == {"commit": state["commit"], "clean": True,
                                                                     "diff": None}


def test_a_change_outside_the_code_leaves_the_tree_clean(repo):
    (repo / "README.md").write_text("edited\n")
    (repo / "notes.txt").write_text("new\n")
    assert tree_state(repo)["clean"] is True


def test_a_modified_or_untracked_file_under_the_package_is_refused_unless_allowed(repo, tmp_path):
    (repo / "nobptt" / "a.py").write_text("x = 2\n")
    (repo / "nobptt" / "new.py").write_text("y = 3\n")
    state = tree_state(repo)
    assert state["clean"] is False and sorted(state["dirty"]) == ["nobptt/a.py", "nobptt/new.py"]
    out = tmp_path / "out"
    with pytest.raises(RecordError, match="nobptt/a.py.*--allow-dirty"):
        writing_provenance(out, "r", False, repo)
    assert not out.exists()
    first = writing_provenance(out, "r", True, repo)
    second = writing_provenance(out, "r", True, repo)
    assert (first["clean"], first["diff"], second["diff"]) == (False, "r.diff-1.patch", "r.diff-2.patch")
    patch = (out / "r.diff-1.patch").read_text()
    assert "+x = 2" in patch and "+y = 3" in patch  # the untracked file is in the saved diff too


def test_a_commit_override_must_be_a_hash(monkeypatch):
    monkeypatch.setenv("NOBPTT_COMMIT", "85778ce")
    with pytest.raises(RecordError, match="NOBPTT_COMMIT='85778ce' is not a 40-hex commit"):
        tree_state()
    monkeypatch.setenv("NOBPTT_COMMIT", SHA)
    assert tree_state() == {"commit": SHA, "clean": None, "dirty": []}  # cleanliness unknown, not assumed


@pytest.mark.parametrize("text,expected", [
    (SHA, (SHA, True, None)),
    (SHA + "-dirty", (SHA, False, None)),
    ("bfcd120", (None, None, "commit as recorded: bfcd120")),
    ("3800b52 (+ scripts as in 85778ce)", (None, None, "commit as recorded: 3800b52 (+ scripts as in 85778ce)")),
    (None, (None, None, None)),
])
def test_recorded_commits_are_read_without_pretending(text, expected):
    assert split_commit(text) == expected


def test_runs_trained_from_a_dirty_tree_are_refused_unless_allowed():
    clean = {"run_dir": "a", "training": {"commit": SHA, "clean": True, "resumed": []}}
    resumed_dirty = {"run_dir": "b", "training": {"commit": SHA, "clean": True,
                                                  "resumed": [{"commit": SHA, "clean": False}]}}
    check_trained_clean([clean], False)
    with pytest.raises(RecordError, match="refusing to record b"):
        check_trained_clean([clean, resumed_dirty], False)
    check_trained_clean([resumed_dirty], True)


def test_test_reads_are_counted_per_checkpoint_and_content_and_a_second_read_warns(tmp_path):
    (tmp_path / "best.pt").write_bytes(b"weights")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert count_test_read(tmp_path, "best.pt", "nobptt eval") == 1
    with pytest.warns(RepeatedTestReadWarning, match="read 2 times"):
        assert count_test_read(tmp_path, "best.pt", "nobptt eval") == 2
    (tmp_path / "best.pt").write_bytes(b"other weights")  # a new checkpoint under the same name
    assert count_test_read(tmp_path, "best.pt", "nobptt eval") == 1


def test_the_eval_command_counts_test_reads_and_refuses_a_dirty_record(tmp_path, monkeypatch, capsys):
    from nobptt.cli import main

    run = tmp_path / "run"
    small = ["--set", "task.T=10", "--set", "train.progress=false", "--set", "train.eval_every=0",
             "--set", "train.eval_steps=2", "--set", "train.epoch_steps=5", "--steps", "10"]
    monkeypatch.setattr(provenance, "tree_state", lambda root=None: {"commit": SHA, "clean": True, "dirty": []})
    assert main(["train", "adding_sab", "--run-dir", str(run), *small]) == 0  # trained from a clean tree
    monkeypatch.setattr(provenance, "tree_state", lambda root=None: {"commit": SHA, "clean": False,
                                                                     "dirty": ["nobptt/x.py"]})
    out = tmp_path / "reports" / "evals.json"
    assert main(["eval", str(run), "--split", "test", "--out", str(out)]) == 2
    assert "nobptt/x.py" in capsys.readouterr().err and not out.exists()
    monkeypatch.setattr(provenance, "diff_text", lambda root=None: "a diff\n")
    assert main(["eval", str(run), "--split", "test", "--out", str(out), "--allow-dirty"]) == 0
    [record] = load_file(out)["records"]
    evaluation = record["runs"][0]["evaluation"]
    assert record["test_reads"] == 1 and evaluation["diff"] == "evals.diff-1.patch"
    assert evaluation["clean"] is False and evaluation["commit"] == SHA
    assert (out.parent / "evals.diff-1.patch").read_text() == "a diff\n"
    assert record["learner"] == "sab" and "mse" in record["metrics"]


def test_a_run_trained_from_a_dirty_tree_is_refused_before_it_is_evaluated(tmp_path, monkeypatch, capsys):
    from nobptt.cli import main

    monkeypatch.setattr(provenance, "tree_state", lambda root=None: {"commit": SHA, "clean": False,
                                                                     "dirty": ["nobptt/x.py"]})
    run = tmp_path / "run"
    small = ["--set", "task.T=10", "--set", "train.progress=false", "--set", "train.eval_every=0",
             "--set", "train.eval_steps=2", "--set", "train.epoch_steps=5", "--steps", "10"]
    assert main(["train", "adding_sab", "--run-dir", str(run), *small]) == 0
    monkeypatch.setattr(provenance, "tree_state", lambda root=None: {"commit": SHA, "clean": True, "dirty": []})
    out = tmp_path / "evals.json"
    assert main(["eval", str(run), "--split", "test", "--out", str(out)]) == 2
    assert f"refusing to record {run}" in capsys.readouterr().err
    assert not out.exists() and not (run / "test_reads.json").exists()  # refused before the test read
    assert main(["eval", str(run), "--split", "test", "--out", str(out), "--allow-dirty"]) == 0
    [record] = load_file(out)["records"]
    assert record["runs"][0]["training"]["clean"] is False and record["runs"][0]["evaluation"]["clean"] is True
