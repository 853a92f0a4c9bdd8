"""The fault-injection suite (issue 38): real processes killed (kill -9) during training, checkpoint
writes and metrics writes, then recovered and compared with an uninterrupted run; two processes on
one folder at once; damaged checkpoints, checksums, metrics logs, configs and data files; every kind
of bad override at resume. The harness is tests/faults.py (also the soak outside CI)."""
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from nobptt.cli import main
from nobptt.train import faults as hooks
from tests import faults



@pytest.fixture(autouse=True)
def _keep_threads():
    """faults.ARGS runs on one thread (train.threads=1); the rest of the suite keeps its own."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _snapshot(run):
    return {p.name: p.read_bytes() for p in sorted(run.iterdir()) if p.is_file() and p.name != ".lock"}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, monkeypatch_module):
    """The uninterrupted run (in this process), its fingerprint, and how often it reached each fault
    point: the hook is switched on with a plan that never fires and its checks are counted."""
    run = tmp_path_factory.mktemp("faults") / "uninterrupted"
    reached = {}

    def count(point):
        reached[point] = reached.get(point, 0) + 1
        return False

    monkeypatch_module.setattr(hooks, "_PLAN", ("never", 0))
    monkeypatch_module.setattr(hooks, "due", count)
    import torch

    threads = torch.get_num_threads()
    assert main(faults.train_args(run)) == 0
    torch.set_num_threads(threads)
    monkeypatch_module.undo()
    return run, faults.fingerprint(run), reached


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_the_harness_knows_every_fault_point_of_a_run(uninterrupted):
    """The soak draws kill points from faults.POINTS: it must match what a run reaches."""
    run, want, reached = uninterrupted
    assert reached == faults.POINTS
    assert want["files"] == ["checkpoint.prev.pt", "checkpoint.prev.pt.sha256", "checkpoint.pt",
                             "checkpoint.pt.sha256", "config.json", "metrics.jsonl", "summary.json"]
    assert [r["step"] for r in want["rows"]] == [25, 50, 75, 100, 125, 150]
    assert want["checkpoint.pt"]["step"] == 150 and want["checkpoint.prev.pt"]["step"] == 100


def test_an_unset_or_bad_fault_plan(monkeypatch):
    assert hooks._plan("") is None and hooks._plan("metrics:3") == ("metrics", 3)
    for bad in ("metrics", "disk:3", "step:0", "step:x"):
        with pytest.raises(SystemExit, match="NOBPTT_FAULT"):
            hooks._plan(bad)


CI = [(kind, n) for kind, points in faults.CI_POINTS.items() for n in points]


@pytest.mark.parametrize("kind,n", CI, ids=[f"{k}:{n}" for k, n in CI])
def test_a_run_killed_and_recovered_is_identical_to_an_uninterrupted_one(uninterrupted, tmp_path, kind, n):
    """kill -9 at the n-th fault point of a real `nobptt train` process, then the recovery docs/runs.md
    gives (resume; or the same command again without a checkpoint), here in process: the metrics rows
    (wall time aside), summary, config, files and both checkpoints' weights, optimizer and stream
    state equal the uninterrupted run's."""
    _, want, _ = uninterrupted
    run = tmp_path / "run"
    proc = faults.nobptt(faults.train_args(run), fault=f"{kind}:{n}")
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    left = faults.kept(run)
    if kind == "metrics":
        assert left["torn_line"]  # the kill cut a row in half
    if kind in ("checkpoint", "json"):
        assert left["temporary_files"] == 1  # written, not yet renamed in
    assert faults.fingerprint(run) != want
    resume = (run / "checkpoint.pt").exists()
    assert main(["train", "--resume", str(run)] if resume else faults.train_args(run)) == 0
    assert faults.differences(faults.fingerprint(run), want) == []
    assert not list(run.glob("*.tmp"))


def test_two_processes_started_at_once_on_one_folder(uninterrupted, tmp_path):
    """Issue 38: two `nobptt train --run-dir SAME` at once both ran and interleaved their metrics.
    Exactly one trains; the other exits 2 naming the owner's pid; the folder is a lone run's."""
    _, want, _ = uninterrupted
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(faults.ROOT)}
    env.pop("NOBPTT_FAULT", None)
    procs = [subprocess.Popen([sys.executable, "-m", "nobptt", *faults.train_args(run)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env, cwd=faults.ROOT) for _ in range(2)]
    done = [(p.pid, p.wait(timeout=300), p.communicate()[1]) for p in procs]
    assert sorted(code for _, code, _ in done) == [0, 2], done
    [(winner, _, _)] = [d for d in done if d[1] == 0]
    [(_, _, err)] = [d for d in done if d[1] == 2]
    assert f"is in use by another process (pid {winner}: nobptt train --run-dir {run}" in err
    assert "Traceback" not in err
    assert faults.differences(faults.fingerprint(run), want) == []


def _copy(uninterrupted, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(uninterrupted[0], run)
    return run


def _damage(path, how):
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "emptied":
        path.write_bytes(b"")
    else:  # bit-flipped: 64 bytes in the middle
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 64]) + data[middle + 64:])


HOW = ["truncated", "emptied", "bit-flipped"]


def _refused(capsys, argv, *expected):
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("nobptt: error: ")
    for text in expected:
        assert text in err, err
    return err


@pytest.mark.parametrize("how", HOW)
def test_both_checkpoints_damaged(uninterrupted, tmp_path, capsys, how):
    run = _copy(uninterrupted, tmp_path)
    _damage(run / "checkpoint.pt", how)
    _damage(run / "checkpoint.prev.pt", how)
    before = _snapshot(run)
    _refused(capsys, ["train", "--resume", str(run), "--steps", "200"], f"checkpoint {run / 'checkpoint.pt'} is damaged",
             "is damaged too; start the run again")
    _refused(capsys, ["eval", str(run)], "is damaged")
    assert _snapshot(run) == before


@pytest.mark.parametrize("how", HOW)
def test_a_damaged_previous_checkpoint_does_not_stop_a_resume_and_is_replaced(uninterrupted, tmp_path, capsys, how):
    run = _copy(uninterrupted, tmp_path)
    _damage(run / "checkpoint.prev.pt", how)
    _refused(capsys, ["train", "--resume", str(run), "--checkpoint", "checkpoint.prev.pt", "--steps", "200"],
             f"checkpoint {run / 'checkpoint.prev.pt'} is damaged")
    assert main(["train", "--resume", str(run), "--steps", "200"]) == 0
    assert faults.fingerprint(run)["checkpoint.prev.pt"]["step"] == 150  # the damaged one replaced


def test_resume_from_the_previous_checkpoint_that_the_message_offers(uninterrupted, tmp_path, capsys):
    """`nobptt train --resume RUN --checkpoint checkpoint.prev.pt`, named by the damaged-checkpoint
    message, continues from the previous checkpoint and ends as the uninterrupted run did."""
    _, want, _ = uninterrupted
    run = _copy(uninterrupted, tmp_path)
    (run / "summary.json").unlink()
    _damage(run / "checkpoint.pt", "bit-flipped")
    command = f"nobptt train --resume {run} --checkpoint checkpoint.prev.pt"
    _refused(capsys, ["train", "--resume", str(run)], f"continue from it with `{command}`")
    assert main(command.split()[1:]) == 0
    assert faults.differences(faults.fingerprint(run), want) == []
    _refused(capsys, ["train", "--run-dir", str(tmp_path / "new"), "--checkpoint", "checkpoint.prev.pt"],
             "use it with --resume")


@pytest.mark.parametrize("how", HOW)
def test_a_damaged_checksum_file_is_named_not_the_checkpoint(uninterrupted, tmp_path, capsys, how):
    run = _copy(uninterrupted, tmp_path)
    _damage(run / "checkpoint.pt.sha256", how)
    before = _snapshot(run)
    err = _refused(capsys, ["train", "--resume", str(run), "--steps", "200"], f"{run / 'checkpoint.pt.sha256'}")
    if how != "truncated":  # a digest cut short is malformed; one cut to a shorter valid line is a mismatch
        assert f"checksum file {run / 'checkpoint.pt.sha256'} is damaged" in err
    assert _snapshot(run) == before


@pytest.mark.parametrize("how", HOW)
def test_a_damaged_config_json_is_named(uninterrupted, tmp_path, capsys, how):
    """A truncated, emptied or altered config.json ended in a raw JSONDecodeError."""
    run = _copy(uninterrupted, tmp_path)
    _damage(run / "config.json", how)
    before = _snapshot(run)
    _refused(capsys, ["train", "--resume", str(run), "--steps", "200"], f"{run / 'config.json'} is damaged")
    _refused(capsys, ["eval", str(run)], f"{run / 'config.json'} is damaged")
    assert _snapshot(run) == before


@pytest.mark.parametrize("how", ["torn last line", "damaged earlier line", "bit-flipped", "emptied", "cut short"])
def test_a_damaged_metrics_log(uninterrupted, tmp_path, capsys, how):
    """A torn last line is repaired and the resume goes on; a damaged earlier line, or rows up to the
    checkpoint missing (emptied, cut short), is refused before the folder changes: those rows could
    not be redone."""
    _, want, _ = uninterrupted
    run = _copy(uninterrupted, tmp_path)
    log = run / "metrics.jsonl"
    (run / "summary.json").unlink()  # killed as it finished: the resume only writes the summary
    lines = log.read_bytes().splitlines(keepends=True)
    if how == "torn last line":
        log.write_bytes(b"".join(lines) + lines[0][:10])
        with pytest.warns(UserWarning, match="the last line was cut"):
            assert main(["train", "--resume", str(run)]) == 0
        assert faults.differences(faults.fingerprint(run), want) == []
        return
    if how == "damaged earlier line":
        log.write_bytes(b"".join(lines[:2]) + b"{not json\n" + b"".join(lines[3:]))
    elif how == "cut short":
        log.write_bytes(b"".join(lines[:3]))
    else:
        _damage(log, how)
    before = _snapshot(run)
    _refused(capsys, ["train", "--resume", str(run)], str(log))
    assert _snapshot(run) == before


@pytest.mark.parametrize("how", HOW)
def test_a_damaged_mnist_file_is_named_before_a_run_folder_exists(tmp_path, capsys, how):
    from nobptt.data import mnist

    data = tmp_path / "data" / "mnist"
    data.mkdir(parents=True)
    source = mnist.find_file("mnist/t10k-labels-idx1-ubyte.gz", mnist.data_roots(None)).parent
    for name in (*mnist.FILES["train"], *mnist.FILES["test"]):
        shutil.copy(source / name, data / name)
    _damage(data / "train-labels-idx1-ubyte.gz", how)
    run = tmp_path / "run"
    _refused(capsys, ["train", "--run-dir", str(run), "--set", f"task.data_dir={tmp_path / 'data'}",
                      "--set", "task.download=false", *faults.ARGS], str(data / "train-labels-idx1-ubyte.gz"),
             "checksum mismatch")
    assert not run.exists()


BAD_OVERRIDES = [
    (["--set", "loss.lr=1"], "unknown section 'loss'"),
    (["--set", "optim.lrr=1"], "unknown key optim.lrr"),
    (["--set", "optim.lr=fast"], "optim.lr='fast'"),
    (["--set", "train.epoch_steps=0"], "train.epoch_steps=0"),
    (["--set", "optim.lr=nan"], "optim.lr=nan"),
    (["--set", "optim.lr=inf"], "optim.lr=inf"),
    (["--set", "optim.lr=-1.0"], "optim.lr=-1.0"),
    (["--set", "task.name=adding"], "task.name cannot change at resume"),
    (["--set", "model.name=brsm"], "model.name cannot change at resume"),
    (["--set", "model.groups=100"], "model.groups cannot change at resume"),
    (["--set", "task.batch_size=32"], "task.batch_size cannot change at resume"),
    (["--set", "model.lr=1e9"], "training diverged: memory_mse"),
]


@pytest.mark.parametrize("override,message", BAD_OVERRIDES, ids=[o[-1] for o, _ in BAD_OVERRIDES])
def test_every_kind_of_bad_override_at_resume_leaves_the_folder_as_it_was(uninterrupted, tmp_path, capsys,
                                                                         override, message):
    """Each is one line naming the field (exit 2); the folder is byte-identical; a diverging learning
    rate names the command that continues with config.json's config, and that command works. A
    divergence adds one file, diverged.json (what a sweep reads), which continuing removes."""
    run = _copy(uninterrupted, tmp_path)
    before = _snapshot(run)
    err = _refused(capsys, ["train", "--resume", str(run), "--steps", "200", *override], message)
    after = _snapshot(run)
    marker = after.pop("diverged.json", None)
    assert after == before and (marker is not None) == ("diverged" in message)
    if "diverged" in message:
        assert json.loads(marker)["message"] in err
        command = f"nobptt train --resume {run} --steps 200"
        assert f"resume with `{command}`" in err
        assert main(command.split()[1:]) == 0
        assert not (run / "diverged.json").exists()


def test_the_docs_table_is_the_soak_records():
    """docs/runs.md's table of faults is generated from results/faults/soak.json; the record tried
    every kind, from a pinned commit, and lost nothing."""
    from nobptt.records.schema import is_commit

    [block] = list(faults.BLOCK.finditer(faults.DOC.read_text()))
    record = json.loads((faults.ROOT / block["file"]).read_text())
    assert block["body"] == faults.table(record), "run: python -m tests.faults --update-docs"
    assert set(record["kinds"]) == set(faults.KINDS) and record["ci_rounds"] == faults.CI_ROUNDS
    assert is_commit(record["provenance"]["commit"]) and record["provenance"]["clean"] is True
    for kind, summary in record["kinds"].items():
        assert summary["tried"] == len([o for o in record["outcomes"] if o["kind"] == kind])
        assert summary["identical"] == summary["tried"] and not summary["lost"], kind
