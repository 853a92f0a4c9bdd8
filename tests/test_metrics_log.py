"""metrics.jsonl under faults: a torn last line is repaired and reported, a damaged earlier line named."""
import json
import warnings

import pytest

from nobptt.errors import DataError
from nobptt.train.metrics import MetricsLog, TornLineWarning


def _log(tmp_path, rows, tail=b""):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in rows) + tail)
    return MetricsLog(path)


ROWS = [{"step": 100, "loss": 1.0}, {"step": 200, "loss": 0.5}]


@pytest.mark.parametrize("tail", [b'{"step": 300, "lo', b"{", b'{"step": 300, "loss": 0.2', b"\x00" * 7,
                                  b'{"step": 300, "loss": 0.2\n'])
def test_torn_last_line_is_ignored_and_reported(tmp_path, tail):
    """Issue 38: "A metrics.jsonl whose last line was cut (a crash or a full disk mid-write) makes
    resume fail with a raw JSONDecodeError"."""
    log = _log(tmp_path, ROWS, tail)
    with pytest.warns(TornLineWarning, match=rf"metrics.jsonl: the last line was cut.*{len(tail)} byte"):
        assert log.rows() == ROWS
    with pytest.warns(TornLineWarning, match=rf"metrics.jsonl.*{len(tail)} byte"):
        log.truncate_after(200)  # what resume does
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert log.rows() == ROWS
    assert log.path.read_bytes().endswith(b"}\n")


def test_write_after_a_torn_line_repairs_first(tmp_path):
    """Issue 38: a torn last line must not merge with the next row appended after it."""
    log = _log(tmp_path, ROWS, b'{"step": 3')
    with pytest.warns(TornLineWarning, match=r"dropped its 10 byte"):
        log.write({"step": 300, "loss": 0.1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert log.rows() == ROWS + [{"step": 300, "loss": 0.1}]


def test_complete_last_line_without_newline_is_kept(tmp_path):
    log = _log(tmp_path, ROWS[:1], json.dumps(ROWS[1]).encode())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert log.rows() == ROWS
        log.write({"step": 300})
        assert [r["step"] for r in log.rows()] == [100, 200, 300]


@pytest.mark.parametrize("bad", [b'{"step": 1', b"garbage", b"[1, 2]", b"\xff\xfe"])
def test_damaged_line_before_the_last_names_file_and_line(tmp_path, bad):
    """Issue 38: a damaged line that is not the last is an error naming the file and line, never a raw
    JSONDecodeError (and never silently dropped)."""
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(json.dumps(ROWS[0]).encode() + b"\n" + bad + b"\n" + json.dumps(ROWS[1]).encode() + b"\n")
    log = MetricsLog(path)
    for action in (log.rows, lambda: log.truncate_after(100), lambda: log.write({"step": 3}) or log.rows()):
        with pytest.raises(DataError, match=r"metrics.jsonl: line 2 is not a JSON object"):
            action()
    assert path.read_bytes().count(b"\n") in (3, 4)  # nothing rewritten away


def test_rows_are_whole_lines(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    assert log.rows() == []
    for row in ROWS:
        log.write(row)
    assert log.path.read_text() == "".join(json.dumps(r) + "\n" for r in ROWS)
    log.truncate_after(100)
    assert log.rows() == ROWS[:1] and not list(tmp_path.glob("*.tmp"))
