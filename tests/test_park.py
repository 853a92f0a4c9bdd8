"""scripts/park.sh: an unfinished run's resumable files go to parked/NAME and come back to runs/NAME."""
import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "park.sh"
RESUMABLE = ("config.json", "metrics.jsonl", "checkpoint.pt", "best.pt")


def park(tmp_path, *args):
    env = {**os.environ, "PARKED": str(tmp_path / "parked"), "RUNS": str(tmp_path / "runs")}
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=tmp_path, env=env, capture_output=True, text=True)


def run_folder(tmp_path, name="copying_sab_T100_s0", files=RESUMABLE + ("stray.log",)):
    folder = tmp_path / "runs" / name
    folder.mkdir(parents=True)
    for f in files:
        (folder / f).write_text(f"{name}/{f}")
    return folder


def test_a_parked_run_comes_back_whole_and_only_its_resumable_files(tmp_path):
    folder = run_folder(tmp_path)
    out = park(tmp_path, str(folder))
    assert out.returncode == 0, out.stderr
    parked = tmp_path / "parked" / folder.name
    assert sorted(p.name for p in parked.iterdir()) == sorted(RESUMABLE)
    # a later session: runs/ is gone, --restore brings the files back
    for p in folder.iterdir():
        p.unlink()
    folder.rmdir()
    assert park(tmp_path, "--restore").returncode == 0
    assert {p.name: p.read_text() for p in folder.iterdir()} == {f: f"{folder.name}/{f}" for f in RESUMABLE}


def test_restore_leaves_an_existing_run_folder_alone_and_re_parking_replaces(tmp_path):
    folder = run_folder(tmp_path)
    park(tmp_path, str(folder))
    (folder / "checkpoint.pt").write_text("newer")
    out = park(tmp_path, "--restore")
    assert "left alone" in out.stdout and (folder / "checkpoint.pt").read_text() == "newer"
    park(tmp_path, str(folder))
    assert (tmp_path / "parked" / folder.name / "checkpoint.pt").read_text() == "newer"
    assert not list((tmp_path / "parked").glob(".*.tmp"))


@pytest.mark.parametrize("files, why", [(("config.json",), "no checkpoint.pt"),
                                        (RESUMABLE + ("summary.json",), "finished")])
def test_a_run_with_nothing_to_resume_is_refused(tmp_path, files, why):
    folder = run_folder(tmp_path, files=files)
    out = park(tmp_path, str(folder))
    assert out.returncode == 2 and why in out.stderr
    assert not (tmp_path / "parked" / folder.name).exists()
