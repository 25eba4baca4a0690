"""Every benchmark of ``make bench`` in its smallest form, so that none of them rots.

Each runs as ``make bench`` runs it (``python -m bench.NAME``, its own
processes, real servers) with the fewest devices, trials and seconds that
still go through every step; the figures are not judged here, only that the
benchmark ran to the end and reported them.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.common import ROOT, parse_results

SMOKE = {
    "startup": ["--quick", "--devices", "20", "--repeats", "1"],
    "modbus_scale": ["--quick", "--sizes", "10", "--duration", "1", "--no-plot"],
    "alarm_latency": ["--quick", "--trials", "2", "--devices", "5"],
    "mqtt_ingest": ["--quick", "--messages", "1000", "--devices", "20"],
    "memory": ["--quick", "--devices", "20", "--duration", "2"],
    "backfill": ["--quick", "--seconds", "10"],
    "fuzz_long": ["--quick", "--only", "config"],
}


@pytest.mark.parametrize("name", list(SMOKE))
def test_benchmark_runs_and_reports(name: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", f"bench.{name}", *SMOKE[name]], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = parse_results(proc.stdout)
    assert results, f"no BENCH_RESULT line in:\n{proc.stdout[-2000:]}"
    figures = results[-1]["figures"]
    # a few figures need a longer run than a smoke test gives (e.g. a memory slope)
    measured = [f for f in figures if f["value"] is not None]
    assert len(measured) >= len(figures) / 2, figures
