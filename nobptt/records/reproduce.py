"""The reproduce table (``nobptt results --experiments``): one row per experiment file, taken from
its header (command, expected result, runtime; ``nobptt.config.experiment_header``), so the
README's table cannot drift from the files that reproduce the results."""
from __future__ import annotations

from nobptt.config import experiment_header, experiments_dir
from nobptt.records.rows import markdown


def experiments_rows(pages: list[str] | None = None) -> list[list[str]]:
    """One row per experiment file; with ``pages``, only the experiments whose header's ``Docs``
    names one of them (each family page carries its own table; the README the main families')."""
    rows = []
    for path in sorted(experiments_dir().glob("*.toml")):
        header = experiment_header(path)
        command, _, then = header.get("Command", "").partition("  ")  # the command, then a note
        docs = header.get("Docs", "").split()
        if pages is not None and not (docs and docs[0] in pages):
            continue
        rows.append([f"`{path.stem}`", f"`{command.strip()}` {then.strip()}".strip(), header.get("Expected", ""),
                     header.get("Runtime", ""), f"[{docs[0].split('/')[-1]}]({docs[0]})" if docs else ""])
    return rows


def experiments_table(pages: list[str] | None = None) -> str:
    """The table; for one page (the table that page itself carries) without the docs column, whose
    root-relative link would point from the page to itself and not resolve there."""
    rows = experiments_rows(pages)
    if pages is not None and len(pages) == 1:
        return markdown(["experiment", "command", "expected", "runtime"], [row[:-1] for row in rows])
    return markdown(["experiment", "command", "expected", "runtime", "docs"], rows)
