"""Provenance that cannot lie: the code's commit and whether the tree was clean, the diff saved
when a record is written from a dirty tree (``--allow-dirty``), and the count of test-split reads."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

from nobptt.errors import RecordError
from nobptt.records.io import folder_lock, write_text
from nobptt.records.schema import is_commit

ROOT = Path(__file__).resolve().parents[2]
# what decides the numbers: an uncommitted change or untracked file here leaves the commit unpinned
WATCHED = ("nobptt", "tests", "pyproject.toml")


class RepeatedTestReadWarning(UserWarning):
    """The test split of one checkpoint was read more than once."""


def _git(*args: str, root: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True,
                          timeout=30).stdout


def tree_state(root: Path = ROOT) -> dict[str, Any]:
    """``{"commit": 40 hex or None, "clean": bool or None, "dirty": [paths]}`` of the code tree.

    ``NOBPTT_COMMIT`` names the commit of a copy without ``.git`` (e.g. a remote GPU machine); its
    cleanliness cannot be checked there, so ``clean`` is None unless ``NOBPTT_CLEAN=true``.
    """
    override = os.environ.get("NOBPTT_COMMIT")
    if override:
        if not is_commit(override):
            raise RecordError(f"NOBPTT_COMMIT={override!r} is not a 40-hex commit; set it to "
                              "`git rev-parse HEAD` of the copied tree")
        return {"commit": override, "clean": True if os.environ.get("NOBPTT_CLEAN") == "true" else None,
                "dirty": []}
    try:
        sha = _git("rev-parse", "HEAD", root=root).strip()
        status = _git("status", "--porcelain", "--untracked-files=all", "--", *WATCHED, root=root)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "clean": None, "dirty": []}
    dirty = [line[3:] for line in status.splitlines() if line.strip()]
    return {"commit": sha if is_commit(sha) else None, "clean": not dirty, "dirty": dirty}


def diff_text(root: Path = ROOT) -> str:
    """``git diff HEAD`` plus every untracked file under the watched paths, as one patch."""
    text = _git("diff", "HEAD", "--", *WATCHED, root=root)
    untracked = _git("ls-files", "--others", "--exclude-standard", "--", *WATCHED, root=root).split()
    for name in untracked:
        # --no-index exits 1 when the files differ, which they always do here
        done = subprocess.run(["git", "diff", "--no-index", "--", "/dev/null", name], cwd=root,
                              capture_output=True, text=True, timeout=30)
        text += done.stdout
    return text


def save_diff(out_dir: Path, name: str, root: Path = ROOT) -> str:
    """Write the tree's diff as ``out_dir/NAME.diff-N.patch`` (first free N); return its file name."""
    n = 1
    while (Path(out_dir) / f"{name}.diff-{n}.patch").exists():
        n += 1
    path = write_text(Path(out_dir) / f"{name}.diff-{n}.patch", diff_text(root))
    return path.name


def writing_provenance(out_dir: Path, name: str, allow_dirty: bool, root: Path = ROOT) -> dict[str, Any]:
    """The commit, cleanliness and saved diff of the tree writing a record into ``out_dir``.

    Refused from a dirty or unknown tree unless ``allow_dirty``; then the diff is saved beside
    the record (when there is a git tree to take it from) and named in ``diff``."""
    state = tree_state(root)
    if state["clean"] is True:
        return {"commit": state["commit"], "clean": True, "diff": None}
    if not allow_dirty:
        why = (f"uncommitted or untracked files under {', '.join(WATCHED)}: {', '.join(state['dirty'][:8])}"
               if state["dirty"] else "the tree's state cannot be checked (no git, NOBPTT_CLEAN unset)")
        raise RecordError(f"refusing to record {name}: {why}; commit them, or pass --allow-dirty to "
                          f"record anyway with the diff saved beside the record in {out_dir}/")
    diff = save_diff(out_dir, name, root) if state["dirty"] else None
    return {"commit": state["commit"], "clean": state["clean"], "diff": diff}


def check_trained_clean(runs: list[dict[str, Any]], allow_dirty: bool) -> None:
    """Refuse runs whose training (or a resume) was not on a clean, known commit, unless allowed."""
    if allow_dirty:
        return
    for run in runs:
        parts = [run["training"], *(run["training"].get("resumed") or [])]
        if any(p.get("clean") is not True or p.get("commit") is None for p in parts):
            raise RecordError(f"refusing to record {run.get('run_dir')}: it was trained (or resumed) from a "
                              "tree whose commit does not pin the code (uncommitted changes or an unknown "
                              "commit); pass --allow-dirty to record it marked as not pinned")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def count_test_read(run_dir: Path, checkpoint: str, command: str) -> int:
    """Count this read of the test split of ``run_dir/checkpoint`` in ``run_dir/test_reads.json``
    (per checkpoint file and its sha256); return the count, this read included, warning past one."""
    run_dir = Path(run_dir)
    sha = sha256_of(run_dir / checkpoint)
    path = run_dir / "test_reads.json"
    with folder_lock(run_dir):
        reads = json.loads(path.read_text())["reads"] if path.exists() else []
        reads.append({"checkpoint": checkpoint, "sha256": sha, "command": command,
                      "at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        write_text(path, json.dumps({"reads": reads}, indent=1) + "\n")
    count = sum(1 for r in reads if r["checkpoint"] == checkpoint and r["sha256"] == sha)
    if count > 1:
        warnings.warn(f"{run_dir / checkpoint}: test split read {count} times (see {path}); a number chosen "
                      "after looking at the test split more than once is no longer a test number",
                      RepeatedTestReadWarning, stacklevel=2)
    return count
