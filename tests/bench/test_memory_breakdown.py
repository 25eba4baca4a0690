"""bench.memory_breakdown reads every part of a running daemon's memory it reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.common import ROOT
from bench.memory_breakdown import in_process_snapshot, smaps


def test_in_process_parts_are_read() -> None:
    snap = in_process_snapshot()
    glibc, pymalloc = snap["glibc"], snap["pymalloc"]
    assert glibc["in_use_bytes"] > 0
    assert glibc["arenas"][0]["nr"] == 0
    assert pymalloc["arenas_current"] > 0
    assert pymalloc["allocated_blocks_bytes"] < pymalloc["arenas_bytes"]
    assert snap["sqlite"]["used_bytes"] >= 0
    assert "monitor" in snap["modules"] or "bench" in snap["modules"]
    outside = smaps(os.getpid())
    assert outside["rss_bytes"] > 0
    assert {"anonymous", "heap"} <= set(outside["by_kind"])


def test_a_small_daemon_is_broken_down(tmp_path: Path) -> None:
    out = tmp_path / "snapshots.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "bench.memory_breakdown", "--devices", "10", "--at", "1,2",
         "--tracemalloc", "4", "--scrape-every", "0.5", "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first, second, series = json.loads(out.read_text())
    assert first["smaps"]["rss_bytes"] > 0
    assert first["glibc"]["arenas"]
    groups = second["tracemalloc"]["groups"]
    assert {"monitor.drivers", "monitor.metrics", "imports"} <= set(groups)
    assert second["stores_pending"] == {"embedded": second["stores_pending"]["embedded"]}
    assert second["scrapes"] >= 1
    assert series["rss_series_mb"]
    assert "tracemalloc:" in proc.stdout  # (pymalloc hides its statistics under tracemalloc)
