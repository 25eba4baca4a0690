"""The allocator settings the service applies hold in a fresh process: threads share one
arena, and a trim gives freed heap pages back (glibc on Linux only)."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="glibc allocator settings")

ARENAS = textwrap.dedent("""
    import ctypes, re, sys, tempfile, threading
    if sys.argv[1] == "tuned":
        from monitor.memory_tuning import tune_allocator
        tune_allocator()
    def work():
        blocks = [bytearray(1000) for _ in range(2000)]  # above pymalloc's 512 bytes
        barrier.wait()
        del blocks
    barrier = threading.Barrier(4)
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    with tempfile.NamedTemporaryFile() as tmp:
        fp = libc.fopen(tmp.name.encode(), b"w")
        libc.malloc_info(0, fp)
        libc.fclose(fp)
        print(len(re.findall(r'<heap nr=', open(tmp.name).read())))
""")

TRIM = textwrap.dedent("""
    import ctypes, gc
    from monitor.memory_tuning import release_free_memory, tune_allocator
    tune_allocator()
    def heap_rss():
        rss, name = 0, ""
        for line in open("/proc/self/smaps"):
            if "-" in line.split()[0] and not line.startswith(("Rss", "Size")):
                name = line.split()[-1] if len(line.split()) > 5 else ""
            elif line.startswith("Rss:") and name == "[heap]":
                rss += int(line.split()[1])
        return rss
    keep, drop = [], []
    for i in range(100000):  # 60 MB of 600-byte blocks, one in 20 kept: holes, no free top
        (keep if i % 20 == 0 else drop).append(bytearray(600))
    keep.append(bytearray(600))
    del drop
    gc.collect()
    before = heap_rss()
    release_free_memory()
    print(before, heap_rss())
""")


def _run(code: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_threads_share_one_arena_once_tuned() -> None:
    assert int(_run(ARENAS, "default")) > 1  # the test can fail: glibc gives threads arenas
    assert int(_run(ARENAS, "tuned")) == 1


def test_trim_gives_freed_heap_pages_back() -> None:
    before_kb, after_kb = map(int, _run(TRIM).split())
    # ~57 MB freed in holes of ~11 KB between kept blocks: their whole pages go back
    assert before_kb - after_kb > 10_000, (before_kb, after_kb)
