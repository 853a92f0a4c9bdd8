"""Reading and writing record files: checked on every load, written atomically under a folder lock."""
from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nobptt.errors import RecordError
from nobptt.records.schema import BENCH_HEADER, BENCH_HEADER_BEFORE, SCHEMA, check_file, check_record

try:
    import fcntl
except ImportError:  # not on Windows: writes there are atomic but not serialized
    fcntl = None


def load_file(path: str | os.PathLike) -> dict[str, Any]:
    """A checked record file; a benchmark CSV comes back as ``{"name", "rows"}``."""
    path = Path(path)
    if path.suffix == ".csv":
        return {"name": path.stem, "rows": load_bench_csv(path)}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise RecordError(f"{path}: not valid JSON ({err})") from err
    return check_file(data, str(path), stem=path.stem)


def load_all(folder: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Every record file in ``folder`` (``*.json`` and ``bench_*.csv``), by name, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RecordError(f"{folder}: no such results folder")
    paths = sorted([*folder.glob("*.json"), *folder.glob("bench_*.csv")])
    return {p.stem: load_file(p) for p in paths}


def load_bench_csv(path: Path) -> list[dict[str, str]]:
    with Path(path).open(newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames not in (BENCH_HEADER, BENCH_HEADER_BEFORE):
            raise RecordError(f"{path}: header {','.join(reader.fieldnames or [])!r} is not the benchmark "
                              "header of docs/results.md; older CSVs are rewritten by "
                              "`python -m nobptt.records.migrate`")
        rows = [{c: row.get(c, "") for c in BENCH_HEADER} for row in reader]  # older files: added cells empty
    for i, row in enumerate(rows):
        if row["schema"] != str(SCHEMA) or row["kind"] not in ("memory", "speed"):
            raise RecordError(f"{path}: row {i + 1}: schema {row['schema']!r}, kind {row['kind']!r}: "
                              f"expected schema {SCHEMA} and kind memory or speed")
    return rows


def bench_csv_text(rows: list[dict[str, Any]]) -> str:
    """Rows in the one benchmark header; a field outside it is an error, not silently dropped."""
    out = io.StringIO()
    for row in rows:
        extra = set(row) - set(BENCH_HEADER)
        if extra:
            raise RecordError(f"benchmark row fields {sorted(extra)} are not in the header of docs/results.md")
    writer = csv.DictWriter(out, fieldnames=BENCH_HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows([{k: _cell(row.get(k)) for k in BENCH_HEADER} for row in rows])
    return out.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (a temporary file beside it, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1) + "\n"


def write_file(path: str | os.PathLike, data: dict[str, Any]) -> Path:
    """Check ``data`` as a record file named by ``path``'s stem and write it atomically."""
    path = Path(path)
    check_file(data, str(path), stem=path.stem)
    return write_text(path, dumps(data))


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (flock on the directory itself, so no lock file is left
    behind). The SAB scripts run two jobs side by side that add to one results file; without
    it both could read the old file, and the second write would drop the first's record."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def record_key(record: dict[str, Any]) -> tuple:
    """What makes an evaluation the same evaluation: run folders, checkpoints, split, overrides."""
    runs = record["runs"]
    return (record["kind"], record["split"], tuple(r.get("run_dir") for r in runs),
            tuple((r.get("evaluation") or {}).get("checkpoint") for r in runs),
            tuple(tuple(r.get("overrides", [])) for r in runs))


def add_records(path: str | os.PathLike, records: list[dict[str, Any]], note: str | None = None) -> Path:
    """Add ``records`` to the record file at ``path``, replacing earlier records with the same
    :func:`record_key`; the read and the atomic write happen under one lock on the folder."""
    path = Path(path)
    for record in records:
        check_record(record, str(path))
    with folder_lock(path.parent):
        data = load_file(path) if path.exists() else {"schema": SCHEMA, "name": path.stem, "note": "",
                                                      "records": []}
        new = {record_key(r) for r in records}
        data["records"] = [r for r in data["records"] if record_key(r) not in new] + records
        if note:
            data["note"] = note
        write_file(path, data)
    return path
