"""The documentation's shape (issue 37): a short README for users, one page per family and the
reference pages in docs/, and no link inside the repository that leads nowhere."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("ssmnist", "ptb", "sab", "online", "ptncn", "bouncing", "sweep", "bench", "runs", "results", "architecture")
MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "data").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def test_readme_is_at_most_250_lines():
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= 250, f"README.md has {lines} lines; move detail to docs/"


@pytest.mark.parametrize("page", PAGES)
def test_every_docs_page_exists_and_is_linked_from_the_readme(page):
    assert (ROOT / "docs" / f"{page}.md").is_file()
    assert f"docs/{page}.md" in (ROOT / "README.md").read_text()


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    found = set()
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            text = line.lstrip("#").strip().lower()
            found.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text)))
    return found


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path):
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)  # code examples are not links
    for target, anchor in LINK.findall(text):
        if "://" in target or target.startswith("mailto:"):
            continue
        resolved = (path.parent / target).resolve()
        assert resolved.exists(), f"{path.relative_to(ROOT)}: link to {target} leads nowhere"
        if anchor and resolved.suffix == ".md":
            assert anchor[1:] in anchors(resolved), f"{path.relative_to(ROOT)}: no heading {anchor} in {target}"


def test_the_worked_example_of_adding_a_learner_registers_and_passes_the_contract(monkeypatch):
    """docs/architecture.md's `mylstm` file, as written there, registers a learner that passes the
    contract test every registered learner passes, and its experiment file resolves."""
    import sys
    import tomllib
    import types

    from nobptt import config as cfg
    from nobptt.learners import registry
    from test_learners import test_learner_contract

    page = (ROOT / "docs" / "architecture.md").read_text()
    python = re.search(r"\*\*1\. `nobptt/learners/mylstm.py`\*\*\s*```python\n(.*?)```", page, re.DOTALL)[1]
    toml = re.search(r"\*\*2\. `nobptt/experiments/ssmnist_mylstm.toml`\*\*\s*```toml\n(.*?)```", page, re.DOTALL)[1]
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry.learner_specs()))  # removed again afterwards
    module = types.ModuleType("mylstm")
    monkeypatch.setitem(sys.modules, "mylstm", module)
    exec(compile(python, "docs/architecture.md:mylstm.py", "exec"), module.__dict__)
    assert "mylstm" in registry.learner_specs()
    test_learner_contract("mylstm")
    resolved = cfg.resolve(cfg.upgrade_config(tomllib.loads(toml)))
    assert resolved["model"]["name"] == "mylstm" and resolved["optim"]["grad_clip"] == 1.0
