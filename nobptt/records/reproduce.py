"""The reproduce table (``nobptt results --experiments``): one row per experiment file, taken from
its header (command, expected result, runtime; ``nobptt.config.experiment_header``), so the
README's table cannot drift from the files that reproduce the results."""
from __future__ import annotations

from nobptt.config import experiment_header, experiments_dir
from nobptt.records.rows import markdown


def experiments_rows() -> list[list[str]]:
    rows = []
    for path in sorted(experiments_dir().glob("*.toml")):
        header = experiment_header(path)
        command, _, then = header.get("Command", "").partition("  ")  # the command, then a note
        docs = header.get("Docs", "").split()
        rows.append([f"`{path.stem}`", f"`{command.strip()}` {then.strip()}".strip(), header.get("Expected", ""),
                     header.get("Runtime", ""), f"[{docs[0].split('/')[-1]}]({docs[0]})" if docs else ""])
    return rows


def experiments_table() -> str:
    return markdown(["experiment", "command", "expected", "runtime", "docs"], experiments_rows())
