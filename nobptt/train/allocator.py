"""Keep freed CPU memory in the process for reuse (glibc malloc), instead of handing it back to the
kernel after every training update.

Why: an update through one autograd graph (full BPTT, dense self-attention) allocates its
activations fresh and frees them all after the backward pass. By default glibc serves a block above
its mmap threshold (128 KiB at start, raised adaptively up to 32 MiB) with its own mmap and unmaps
it on free, and trims the heap's free top beyond 128 KiB, so every update asks the kernel for the
same pages again and pays a page fault (and zeroing) for each 4 KiB. On the 2-core development VM
that was close to half the time of dense self-attention at copying T = 300: training went from
6.0 to 3.3 s per update (docs/bench.md). With the threshold at its 32 MiB maximum and
trimming off, the first update grows the heap to its peak and later updates reuse it.

The cost: the process keeps its peak resident size after an update instead of shrinking between
updates. ``nobptt bench memory`` measures peak RSS and does not call this. ``nobptt bench allocator``
measures the page faults per update with and without it; tests/test_allocator.py checks the
mechanism (large blocks served from the heap and kept there after free).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import platform

M_TRIM_THRESHOLD = -1  # mallopt parameter numbers, from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's upper limit on 64-bit (4 * 1024 * 1024 * sizeof(long))


def has_glibc() -> bool:
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def keep_freed_memory() -> bool:
    """Set glibc's mmap threshold to its maximum and turn heap trimming off, for this process.
    Returns whether it took effect (False where the C library is not glibc, e.g. macOS, musl)."""
    if not has_glibc():
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        # a value of -1 is read by glibc as SIZE_MAX (size_t): never trim
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(libc.mallopt(M_TRIM_THRESHOLD, -1))
    except (OSError, AttributeError):
        return False
