"""Every experiment file opens with a short header: what it is, the command, the expected result,
the runtime (on named hardware) and the docs page that explains it (issue 37)."""
import re
from pathlib import Path

import pytest

from nobptt.config import experiment_header

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted((ROOT / "nobptt" / "experiments").glob("*.toml"))
FAMILY_PAGES = {"docs/ssmnist.md", "docs/ptb.md", "docs/sab.md", "docs/bench.md", "docs/online.md",
                "docs/ptncn.md", "docs/bouncing.md", "docs/cells.md"}
FIELDS = ("Command:", "Expected:", "Runtime:", "Docs:")


def header(path: Path) -> list[str]:
    """The comment lines before the first line that is not a comment."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return lines


def test_there_are_experiments():
    assert len(EXPERIMENTS) >= 10


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_header_is_short_and_complete(path):
    lines = header(path)
    parsed = experiment_header(path)  # what the README's reproduce table is generated from

    def field(_, name):
        return parsed.get(name.rstrip(":"), "")
    assert 5 <= len(lines) <= 8, f"{path.name}: header of {len(lines)} lines (at most 8)"
    assert not any(f in lines[0] for f in FIELDS), f"{path.name}: the first line says what the experiment is"
    for name in FIELDS:
        assert field(lines, name), f"{path.name}: no '# {name}' line"
    assert f"nobptt train {path.stem}" in field(lines, "Command:") or \
        (path.stem == "ssmnist_pbrsm" and "nobptt train" in field(lines, "Command:")), path.name
    # a number, and a duration on named hardware
    assert re.search(r"\d", field(lines, "Expected:")), path.name
    runtime = field(lines, "Runtime:")
    assert re.search(r"\d+(\.\d+)? ?(ms|s|min|h)\b", runtime) or "steps" in runtime, path.name
    assert re.search(r"CPU|GPU|Xeon|EPYC|H100|H200", runtime), f"{path.name}: runtime names no hardware"
    page = field(lines, "Docs:").split()[0]
    assert page in FAMILY_PAGES, f"{path.name}: docs link {page!r} is not one of {sorted(FAMILY_PAGES)}"
    if (ROOT / "docs" / "sab.md").exists():  # the family pages land with the docs branch
        assert (ROOT / page).exists(), f"{path.name}: {page} does not exist"
