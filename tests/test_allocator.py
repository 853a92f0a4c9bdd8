"""keep_freed_memory: glibc serves large blocks from its heap and keeps them after free.

The effect on page faults per update is measured by `nobptt bench allocator` (it varies between
processes, so it is no test); here the mechanism is asserted through glibc's own accounting
(mallinfo2), which is exact for one block allocated by malloc in a fresh process."""
import json
import subprocess
import sys

import pytest

from nobptt.config import resolve
from nobptt.train.allocator import has_glibc

# A fresh process that allocates and frees one 24 MiB block with the C library's malloc and reports
# glibc's accounting after each step. 24 MiB is above glibc's default mmap threshold (128 KiB, raised
# only by freeing a larger mmapped block, which nothing in this process has done) and below
# keep_freed_memory's 32 MiB.
PROBE = """
import ctypes, ctypes.util, json, sys
if sys.argv[1] == "keep":
    from nobptt.train.allocator import keep_freed_memory
    assert keep_freed_memory()

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                 "fordblks", "keepcost")]

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = MallInfo2
SIZE = 24 * 1024 * 1024

def info():
    i = libc.mallinfo2()
    return {"arena": i.arena, "hblks": i.hblks, "fordblks": i.fordblks}

steps = {"start": info()}
block = libc.malloc(SIZE)
ctypes.memset(block, 1, SIZE)
steps["allocated"] = info()
libc.free(block)
steps["freed"] = info()
block = libc.malloc(SIZE)
steps["again"] = info()
libc.free(block)
print(json.dumps(steps))
"""
SIZE = 24 * 1024 * 1024


def probe(mode: str) -> dict[str, dict[str, int]]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def has_mallinfo2() -> bool:
    import ctypes
    import ctypes.util

    try:
        return hasattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), "mallinfo2")
    except OSError:
        return False


needs_glibc = pytest.mark.skipif(not (has_glibc() and has_mallinfo2()), reason="glibc 2.33+ only (mallinfo2)")


@needs_glibc
def test_keep_freed_memory_serves_large_blocks_from_the_heap_and_keeps_them():
    s = probe("keep")
    # served from the heap, not by a separate mmap
    assert s["allocated"]["hblks"] == s["start"]["hblks"], s
    assert s["allocated"]["arena"] - s["start"]["arena"] >= SIZE - s["start"]["fordblks"], s
    # freed, but the heap is not trimmed: the memory stays in the process as free space
    assert s["freed"]["arena"] == s["allocated"]["arena"], s
    assert s["freed"]["fordblks"] >= SIZE, s
    # the next allocation of the same size takes that space: nothing new from the kernel
    assert s["again"]["arena"] == s["freed"]["arena"] and s["again"]["hblks"] == s["start"]["hblks"], s
    assert s["again"]["fordblks"] < SIZE, s


@needs_glibc
def test_glibc_default_maps_and_unmaps_the_same_block():
    # the contrast, so that the test above could fail: without the setting the block is its own
    # mmap, returned to the kernel on free, and the heap never holds it
    s = probe("default")
    assert s["allocated"]["hblks"] == s["start"]["hblks"] + 1, s
    assert s["freed"]["hblks"] == s["start"]["hblks"], s
    assert s["freed"]["arena"] - s["start"]["arena"] < SIZE, s


def test_train_config_turns_it_on_by_default():
    config = resolve({"task": {"name": "copying"}, "model": {"name": "sab"}})
    assert config["train"]["keep_freed_memory"] is True


def test_bench_allocator_summarises_updates_after_the_first():
    from nobptt.bench.allocator import format_measurement

    text = format_measurement({"default": [[1.0, 0.9, 0.8]], "keep": [[1.0, 0.2, 0.0]]})
    assert "  keep    1.000 0.200 0.000" in text
    assert "default: median over updates 2..N 0.850, max 0.900" in text
    assert "keep: median over updates 2..N 0.100, max 0.200" in text
