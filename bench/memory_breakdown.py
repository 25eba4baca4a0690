"""Where the daemon's resident memory goes, at N devices, as benchmark 5 runs it.

The daemon (``bench.daemon_probe``, the real ``Service``: uvloop, embedded
store, HTTP API with ``/metrics`` scraped every 15 s as ``bench.memory`` does)
polls N farm devices; at each ``--at`` second after every device was polled
once this process reads the daemon's ``/proc/PID/smaps`` and asks the daemon
(SIGUSR1, ``daemon_probe --diag-file``) for what only it can see:

- smaps: RSS by kind of mapping ([heap], anonymous, thread stacks, files);
- glibc: ``mallinfo2`` totals and ``malloc_info`` per arena (the main arena
  is [heap]; each thread that mallocs may get an arena of its own);
- pymalloc: ``sys._debugmallocstats`` (its arenas are anonymous mappings);
- with ``--tracemalloc``: live Python allocations by monitor subpackage (the
  innermost monitor/ frame of each allocation; imports apart). Tracing from
  the process start costs memory and CPU of its own: RSS is then not the
  figure to quote, and pymalloc keeps its statistics to itself.

Run: ``python -m bench.memory_breakdown --devices 2000 --at 45,150``
(``--tracemalloc`` for the Python side, ``--json FILE`` for the raw numbers,
``--tree DIR`` to run the daemon of another checkout, e.g. a clean clone made
with ``git clone /work/main /tmp/x-base`` plus this file and the probe copied
in, for before/after figures of the same run conditions).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import ROOT, free_port, free_ports, precompile

MB = 2**20


# ---------------------------------------------------------------- inside the daemon
class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


def glibc_stats() -> dict[str, Any]:
    """``mallinfo2`` (every arena summed) and ``malloc_info``'s per-arena sizes."""
    try:
        libc = ctypes.CDLL(None)
        mallinfo2 = libc.mallinfo2
    except (OSError, AttributeError):
        return {}
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    out: dict[str, Any] = {
        "arena_bytes": info.arena,  # got from the system by brk/heaps, all arenas
        "mmapped_bytes": info.hblkhd,  # blocks above the mmap threshold, each its own map
        "mmapped_blocks": info.hblks,
        "in_use_bytes": info.uordblks,
        "free_bytes": info.fordblks,  # free but kept (fragmentation, trim thresholds)
        "free_chunks": info.ordblks,
        "top_releasable_bytes": info.keepcost,
    }
    with tempfile.NamedTemporaryFile("rb", suffix=".xml") as tmp:
        libc.fopen.restype = ctypes.c_void_p
        libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
        libc.fclose.argtypes = [ctypes.c_void_p]
        fp = libc.fopen(tmp.name.encode(), b"w")
        if fp:
            libc.malloc_info(0, fp)
            libc.fclose(fp)
            out["arenas"] = _parse_malloc_info(tmp.read().decode())
    return out


def _parse_malloc_info(xml: str) -> list[dict[str, int]]:
    arenas = []
    for nr, body in re.findall(r'<heap nr="(\d+)">(.*?)</heap>', xml, re.S):
        sizes = dict(re.findall(r'<system type="(\w+)" size="(\d+)"/>', body))
        free = sum(int(s) for s in re.findall(r'<total type="\w+" count="\d+" size="(\d+)"/>',
                                              body))
        arenas.append({"nr": int(nr), "system_bytes": int(sizes.get("current", 0)),
                       "free_bytes": free})
    return arenas


def pymalloc_stats() -> dict[str, Any]:
    """The totals of ``sys._debugmallocstats`` (which writes to fd 2: captured here)."""
    with tempfile.TemporaryFile("w+b") as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode(errors="replace")
    out: dict[str, Any] = {}
    for key, pattern in (
        ("arenas_current", r"# arenas allocated current\s*=\s*([\d,]+)"),
        ("arenas_highwater", r"# arenas highwater mark\s*=\s*([\d,]+)"),
        ("arenas_bytes", r"\d+ arenas \* \d+ bytes/arena\s*=\s*([\d,]+)"),
        ("allocated_blocks_bytes", r"# bytes in allocated blocks\s*=\s*([\d,]+)"),
        ("available_blocks_bytes", r"# bytes in available blocks\s*=\s*([\d,]+)"),
        ("unused_pools_bytes", r"\d+ unused pools \* \d+ bytes\s*=\s*([\d,]+)"),
        ("pool_headers_bytes", r"# bytes lost to pool headers\s*=\s*([\d,]+)"),
        ("quantization_bytes", r"# bytes lost to quantization\s*=\s*([\d,]+)"),
        ("arena_alignment_bytes", r"# bytes lost to arena alignment\s*=\s*([\d,]+)"),
    ):
        if match := re.search(pattern, text):
            out[key] = int(match.group(1).replace(",", ""))
    return out


def sqlite_stats() -> dict[str, int]:
    """Bytes SQLite holds from malloc (page caches, schemas, statements) over every
    connection of the process, now and at its highest."""
    import sqlite3  # noqa: F401  (loads the library _sqlite3 links)

    try:
        lib = ctypes.CDLL("libsqlite3.so.0")
    except OSError:
        return {}
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    lib.sqlite3_memory_highwater.restype = ctypes.c_int64
    lib.sqlite3_memory_highwater.argtypes = [ctypes.c_int]
    return {"used_bytes": lib.sqlite3_memory_used(),
            "highwater_bytes": lib.sqlite3_memory_highwater(0)}


def _group_of(filename: str) -> str | None:
    """monitor/alarms/engine.py -> monitor.alarms; None for a frame outside monitor/."""
    path = filename.replace(os.sep, "/")
    index = path.rfind("/monitor/")
    if index < 0 or "site-packages" in path[index:]:
        return None
    parts = path[index + 1:].split("/")
    return ".".join(parts[:2]) if len(parts) > 2 else "monitor"


def _library_of(filename: str) -> str:
    path = filename.replace(os.sep, "/")
    if "importlib" in path and "_bootstrap" in path:
        return "imports"
    if (index := path.rfind("site-packages/")) >= 0:
        return path[index + len("site-packages/"):].split("/", 1)[0].removesuffix(".py")
    if "/bench/" in path:
        return "bench (the probe)"
    return "stdlib:" + Path(path).stem


_PREVIOUS: list[Any] = []  # the last tracemalloc snapshot taken, in the daemon


def tracemalloc_groups(top: int = 12) -> dict[str, Any]:
    """Live traced bytes by monitor subpackage (innermost monitor/ frame), else by library;
    an allocation under an import is charged to ``imports`` (module code and globals)."""
    import tracemalloc

    if not tracemalloc.is_tracing():
        return {}
    snapshot = tracemalloc.take_snapshot()
    groups: Counter[str] = Counter()
    large: Counter[str] = Counter()  # above pymalloc's 512 bytes: glibc malloc's
    lines: Counter[str] = Counter()
    # one entry per distinct traceback (grouped by tracemalloc itself): far fewer than traces
    for stat in snapshot.statistics("traceback"):
        newest_first = list(stat.traceback)[::-1]  # the traceback is oldest first
        group = None
        for frame in newest_first:
            if "importlib" in frame.filename and "_bootstrap" in frame.filename:
                group = "imports"
                break
            if (group := _group_of(frame.filename)) is not None:
                break
        if group is None:
            group = _library_of(newest_first[0].filename) if newest_first else "?"
        groups[group] += stat.size
        if stat.size > 512 * stat.count:  # blocks above 512 bytes on average: glibc's
            large[group] += stat.size
        if newest_first:
            lines[f"{newest_first[0].filename}:{newest_first[0].lineno}"] += stat.size
    growth = {}
    if _PREVIOUS:  # what grew since the previous diagnostics: a leak, or a backlog
        growth = {str(stat.traceback[0]): stat.size_diff
                  for stat in snapshot.compare_to(_PREVIOUS[0], "lineno")[:top]
                  if stat.size_diff > 0}
    _PREVIOUS[:] = [snapshot]
    traced, peak = tracemalloc.get_traced_memory()
    return {"traced_bytes": traced, "peak_bytes": peak, "growth_lines": growth,
            "overhead_bytes": tracemalloc.get_tracemalloc_memory(),
            "groups": dict(groups.most_common()),
            "large_groups": dict(large.most_common()),
            "top_lines": dict(lines.most_common(top))}


def _owner_of(obj: Any) -> str:
    """Where a container hangs: ``Class.attribute`` of the object holding it, if one does."""
    for ref in gc.get_referrers(obj):
        if isinstance(ref, dict):
            for holder in gc.get_referrers(ref):
                attrs: dict[str, Any] = ref
                if getattr(holder, "__dict__", None) is attrs:
                    name = next((k for k, v in attrs.items() if v is obj), "?")
                    return f"{type(holder).__module__}.{type(holder).__qualname__}.{name}"
        slots = [n for c in type(ref).__mro__ for n in getattr(c, "__slots__", ())
                 if isinstance(n, str)]
        for name in slots:
            if getattr(ref, name, None) is obj:
                return f"{type(ref).__module__}.{type(ref).__qualname__}.{name}"
    return "?"


def large_containers(min_items: int = 5000) -> list[dict[str, Any]]:
    """Every dict, list, set and array of at least ``min_items`` entries (frozen ones too:
    the service freezes what it built at the start), with its own size and its owner.
    Opt-in (``--env BENCH_CONTAINERS=1``): unfreezing and walking referrers is slow."""
    import array

    gc.unfreeze()
    try:
        tracked = gc.get_objects()  # untracked ones (dicts of str -> int, arrays) are
        found = [o for o in (*tracked, *gc.get_referents(*tracked))  # found as referents
                 if isinstance(o, dict | list | set | frozenset | array.array)
                 and len(o) >= min_items]
        seen: set[int] = set()
        out = []
        for obj in found:
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            out.append({"type": type(obj).__name__, "items": len(obj),
                        "bytes": sys.getsizeof(obj), "owner": _owner_of(obj)})
        return sorted(out, key=lambda c: -c["bytes"])
    finally:
        gc.freeze()


def in_process_snapshot() -> dict[str, Any]:
    """What the daemon process knows of its own memory (called on its event loop)."""
    if os.environ.get("BENCH_CONTAINERS"):
        return {"containers": large_containers()}
    return {
        "glibc": glibc_stats(),
        "pymalloc": pymalloc_stats(),
        "sqlite": sqlite_stats(),
        "gc_objects": len(gc.get_objects()),
        "gc_frozen": gc.get_freeze_count(),
        "python_threads": [t.name for t in threading.enumerate()],
        "modules": dict(Counter(name.split(".")[0] for name in list(sys.modules)).most_common()),
        "module_names": sorted(sys.modules),
        "tracemalloc": tracemalloc_groups(),
    }


# ---------------------------------------------------------------- outside: /proc
def smaps(pid: int) -> dict[str, Any]:
    """RSS of ``pid`` by kind of mapping, and its largest anonymous mappings."""
    kinds: Counter[str] = Counter()
    anon_maps: list[tuple[int, int, str]] = []
    files: Counter[str] = Counter()
    header = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+\s*(.*)$")
    with open(f"/proc/{pid}/smaps", encoding="utf-8", errors="replace") as fh:
        name, size, perms = "", 0, ""
        for line in fh:
            if match := header.match(line):
                name = match.group(4).strip()
                size = int(match.group(2), 16) - int(match.group(1), 16)
                perms = match.group(3)
            elif line.startswith("Rss:"):
                rss = int(line.split()[1]) * 1024
                kind = _kind(name)
                kinds[kind] += rss
                if kind == "anonymous" and rss:
                    anon_maps.append((rss, size, perms))
                elif kind.startswith("file"):
                    files[Path(name).name] += rss
    threads = []
    with contextlib.suppress(OSError):
        for task in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
            threads.append(Path(f"/proc/{pid}/task/{task}/comm").read_text().strip())
    status = Path(f"/proc/{pid}/status").read_text()
    vm = dict(re.findall(r"^(Vm\w+|Rss\w+):\s+(\d+) kB", status, re.M))
    anon_maps.sort(reverse=True)
    return {"rss_bytes": int(vm["VmRSS"]) * 1024,
            "rss_anon_bytes": int(vm.get("RssAnon", 0)) * 1024,
            "rss_file_bytes": int(vm.get("RssFile", 0)) * 1024,
            "by_kind": dict(kinds.most_common()),
            "largest_anonymous": [{"rss": r, "size": s, "perms": p} for r, s, p in anon_maps[:12]],
            "largest_files": dict(files.most_common(15)),
            "threads": threads}


def _kind(name: str) -> str:
    if not name:
        return "anonymous"
    if name == "[heap]":
        return "heap"
    if name.startswith("[stack"):
        return "main stack"
    if name.startswith("["):
        return name
    return "file: .so" if ".so" in name else "file: other"


# ---------------------------------------------------------------- the run
def run(devices: int, at: list[float], *, tracemalloc_frames: int, tree: Path,
        scrape_every: float, extra_env: dict[str, str]) -> list[dict[str, Any]]:
    # imported here, not at the top: the daemon imports this module for its diagnostics
    from bench.configs import modbus_site, write_config
    from bench.memory import scrape_loop
    from bench.procs import Child, farm

    ports = free_ports(4)
    http_port = free_port()
    snapshots = []
    with tempfile.TemporaryDirectory(prefix="bench-membreak-") as tmp, farm(ports):
        config = write_config(Path(tmp) / "site.yaml",
                              modbus_site(Path(tmp) / "data", devices, ports,
                                          http_port=http_port))
        diag = Path(tmp) / "diag.json"
        env = {"PYTHONPATH": str(tree), **extra_env}
        if tracemalloc_frames:
            env["PYTHONTRACEMALLOC"] = str(tracemalloc_frames)
        child = Child([sys.executable, str(tree / "bench" / "daemon_probe.py"),
                       "--config", str(config), "--http", "--warmup", "0",
                       "--window-stdin", "--rss-every", "5", "--diag-file", str(diag)],
                      stdin=True, env=env, name="daemon")
        stop = threading.Event()
        scrapes: list[float] = []
        scraper = threading.Thread(target=scrape_loop, daemon=True,
                                   args=(http_port, scrape_every, stop, scrapes))
        try:
            child.wait_line("ready", 180)
            t_ready = time.monotonic()
            if scrape_every > 0:
                scraper.start()
            for when in at:
                time.sleep(max(0.0, t_ready + when - time.monotonic()))
                os.kill(child.pid, signal.SIGUSR1)
                child.wait_line("DIAG", 900)
                snap = {"t_s": round(time.monotonic() - t_ready, 1), "scrapes": len(scrapes),
                        **json.loads(diag.read_text()), "smaps": smaps(child.pid)}
                snapshots.append(snap)
                print(report(snap, devices), flush=True)
            child.send("end")
            result = child.result(120)
            snapshots.append({"rss_series_mb": result.get("rss_mb")})
        finally:
            stop.set()
            child.stop()
    return snapshots


def report(snap: dict[str, Any], devices: int) -> str:
    """The snapshot as a few aligned lines of MB."""
    sm, g, p = snap["smaps"], snap.get("glibc", {}), snap.get("pymalloc", {})
    out = [f"--- {devices} devices, {snap['t_s']} s after every device was polled once "
           f"({snap['scrapes']} scrapes) ---",
           f"RSS {_mb(sm['rss_bytes'])} (anon {_mb(sm['rss_anon_bytes'])}, "
           f"file {_mb(sm['rss_file_bytes'])})",
           "  by mapping: " + ", ".join(f"{k} {_mb(v)}" for k, v in sm["by_kind"].items()),
           "  largest anonymous (rss/size): " + ", ".join(
               f"{_mb(m['rss'])}/{_mb(m['size'])}" for m in sm["largest_anonymous"][:8]),
           "  largest files: " + ", ".join(
               f"{name} {_mb(rss)}" for name, rss in sm.get("largest_files", {}).items()),
           f"  threads ({len(sm['threads'])}): {', '.join(sm['threads'])}"]
    if g:
        out.append(f"glibc malloc: from system {_mb(g['arena_bytes'])} in arenas + "
                   f"{_mb(g['mmapped_bytes'])} mmapped ({g['mmapped_blocks']} blocks); "
                   f"in use {_mb(g['in_use_bytes'])}, free kept {_mb(g['free_bytes'])} "
                   f"in {g['free_chunks']} chunks, trimmable top {_mb(g['top_releasable_bytes'])}")
        out.append("  arenas (system/free): " + ", ".join(
            f"#{a['nr']} {_mb(a['system_bytes'])}/{_mb(a['free_bytes'])}"
            for a in g.get("arenas", [])))
    if p:
        out.append(f"pymalloc: {p.get('arenas_current')} arenas = {_mb(p.get('arenas_bytes', 0))}"
                   f" (highwater {p.get('arenas_highwater')}); blocks in use "
                   f"{_mb(p.get('allocated_blocks_bytes', 0))}, free in pools "
                   f"{_mb(p.get('available_blocks_bytes', 0))}, unused pools "
                   f"{_mb(p.get('unused_pools_bytes', 0))}")
    if sq := snap.get("sqlite"):
        out.append(f"sqlite (in glibc's heap): {_mb(sq['used_bytes'])} "
                   f"(highest {_mb(sq['highwater_bytes'])})")
    if "stores_pending" in snap:
        out.append(f"readings not yet committed: {snap['stores_pending']}")
    out.append(f"python: {snap.get('gc_objects')} GC-tracked objects "
               f"({snap.get('gc_frozen')} frozen); threads {snap.get('python_threads')}")
    if mods := snap.get("modules"):
        out.append(f"modules loaded: {sum(mods.values())}; by package: " + ", ".join(
            f"{name} {count}" for name, count in list(mods.items())[:30]))
    if containers := snap.get("containers"):
        out.append(f"containers of 5,000+ entries: {len(containers)}, "
                   f"{_mb(sum(c['bytes'] for c in containers))} in their own tables")
        out += [f"  {_mb(c['bytes']):>9}  {c['type']}[{c['items']}]  {c['owner']}"
                for c in containers]
    tm = snap.get("tracemalloc") or {}
    if tm:
        out.append(f"tracemalloc: {_mb(tm['traced_bytes'])} traced (its own overhead "
                   f"{_mb(tm['overhead_bytes'])}); by group:")
        large = tm.get("large_groups", {})
        out.append(f"  (of which above 512 bytes, in glibc's heap: {_mb(sum(large.values()))})")
        out += [f"  {_mb(size):>9}  {group} ({_mb(large.get(group, 0))} large)"
                for group, size in list(tm["groups"].items())[:25]]
        out.append("  top lines:")
        out += [f"  {_mb(size):>9}  {line}" for line, size in tm["top_lines"].items()]
        if tm.get("growth_lines"):
            out.append("  grown most since the previous snapshot:")
            out += [f"  {_mb(size):>9}  {line}" for line, size in tm["growth_lines"].items()]
    return "\n".join(out)


def _mb(value: float) -> str:
    return f"{value / MB:.1f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--at", default="45",
                        help="comma-separated seconds after the first full poll (default 45)")
    parser.add_argument("--tracemalloc", type=int, nargs="?", const=8, default=0,
                        metavar="FRAMES", help="trace Python allocations from the start "
                        "(frames kept per allocation, default 8)")
    parser.add_argument("--scrape-every", type=float, default=15.0,
                        help="seconds between /metrics scrapes, as bench.memory (0: none)")
    parser.add_argument("--tree", type=Path, default=ROOT,
                        help="checkout whose daemon is run (its bench/ needs this probe)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the daemon (e.g. MALLOC_ARENA_MAX=2)")
    parser.add_argument("--json", type=Path, help="write every snapshot here")
    args = parser.parse_args(argv)
    precompile()
    snapshots = run(args.devices, [float(s) for s in args.at.split(",")],
                    tracemalloc_frames=args.tracemalloc, tree=args.tree.resolve(),
                    scrape_every=args.scrape_every,
                    extra_env=dict(e.split("=", 1) for e in args.env))
    series = snapshots[-1].get("rss_series_mb") or []
    if series:
        print("RSS series (s after ready, MB): " + ", ".join(
            f"{t:.0f}:{m:.1f}" for t, m in series))
    if args.json:
        args.json.write_text(json.dumps(snapshots, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
