"""How the daemon uses glibc's allocator: set once before its threads start, trimmed after bursts.

The daemon is one long-lived process whose memory is mostly built once (config,
alarm tables, drivers) and then steady; what makes its RSS grow are bursts
that other threads allocate and free (a ``/metrics`` scrape is encoded in a
worker thread, commits run in another) and glibc keeping what was freed.
Figures are from ``python -m bench.memory_breakdown --devices 2000`` (the
daemon of benchmark 5, ``/metrics`` scraped every 15 s); see each function.

Nothing is done on a C library other than glibc, or where it lacks a call.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import platform

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # <malloc.h>
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

MMAP_THRESHOLD = 128 * 1024  # glibc's default, pinned
ARENA_MAX = 1


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


@functools.cache
def tune_allocator() -> None:
    """Pin the mmap threshold and keep every thread on glibc's one main arena.

    *mmap threshold*: glibc raises it each time a block above it is freed, up
    to 32 MB: after the first scrape, the next scrapes' multi-MB buffers would
    be carved from the heap and their pages kept in RSS (measured: +114 MB
    after 5 scrapes at 2,000 devices, +38 MB with the threshold pinned).
    Pinned, a large buffer is its own mapping and goes back to the system when
    freed.

    *arena max*: by default every thread that mallocs gets an arena of its own
    (up to 8 per core) whose freed memory only that arena reuses. The worker
    threads that encode ``/metrics`` and commit readings kept 3.9-4.8 MB each
    there, most of it free, and the 4 libuv workers 0.4 MB: 8.9-9.8 MB of
    thread arenas at 45-100 s. On the one main arena that memory is shared:
    glibc's total 38.9 -> 35.4 MB at 45 s, 39.8 -> 35.9 MB at 100 s. The lock
    they now share is rarely contended: Python's blocks up to 512 bytes never
    take it and the GIL serialises its larger ones; only SQLite's mallocs in the
    commit thread (GIL released) can meet the event loop's. The store's CPU per
    reading, append and commit (``bench.store_append``, two pairs alternated):
    2.01 and 2.07 us on per-thread arenas, 1.94 and 1.94 us on one.

    Called by the service before any thread of the daemon starts; idempotent.
    """
    libc = _glibc()
    if libc is None:
        return
    libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    libc.mallopt(M_ARENA_MAX, ARENA_MAX)


def release_free_memory() -> None:
    """Give the pages glibc holds free back to the system (``malloc_trim(0)``).

    Called after the start-up (once its garbage is collected) and after each
    ``/metrics`` scrape, the two moments that free megabytes at once; glibc
    returns only the top of its heap by itself, never free pages below live
    blocks. With one arena, the main heap's RSS after 45-100 s was 35.3-35.7 MB
    untrimmed and 29.0-29.5 MB trimmed. A trim walks the free chunks only:
    0.3-3.7 ms after a scrape at 2,000 devices, in the scrape's worker thread.
    """
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
