"""What every benchmark shares: process CPU and memory from /proc, percentiles, results.

CPU is read from ``/proc/<pid>/stat`` (utime + stime of every thread of the
process, in clock ticks) so that the daemon and its baseline are measured the
same way, from outside, without psutil. A benchmark prints its figures as a
table for people and one ``BENCH_RESULT {json}`` line that ``bench.run_all``
collects.
"""

from __future__ import annotations

import json
import math
import os
import platform
import socket
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parent.parent
RESULT_PREFIX = "BENCH_RESULT "


def precompile() -> None:
    """Write the package's bytecode, as installing it would.

    The development machines set ``PYTHONDONTWRITEBYTECODE=1``: without this
    every daemon process of a benchmark compiles ``monitor`` from source
    (~0.1 s of each start-up), which a packaged install never does.
    """
    import compileall

    for package in ("monitor", "simulators", "bench"):
        compileall.compile_dir(ROOT / package, quiet=1)


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU seconds used so far by every thread of ``pid``."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        text = fh.read()
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state) of proc(5); utime is field 14, stime 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class CpuWindow:
    """CPU share of a process over a wall-clock window: cpu seconds per wall second."""

    def __init__(self, pid: int | str) -> None:
        self.pid = pid
        self.wall0 = time.monotonic()
        self.cpu0 = cpu_seconds(pid)

    def read(self) -> tuple[float, float]:
        """(cpu seconds used, wall seconds elapsed) since the window opened."""
        return cpu_seconds(self.pid) - self.cpu0, time.monotonic() - self.wall0


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values (a figure that was not measured)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (held open together while choosing)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for sock in socks:
            sock.close()


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import pymodbus

        pymodbus_version = pymodbus.__version__
    except ImportError:
        pymodbus_version = "missing"
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "pymodbus": pymodbus_version,
    }


def load_average() -> float:
    """One-minute load average: the machine is shared, so every result notes it."""
    return os.getloadavg()[0]


@dataclass
class Figure:
    name: str
    value: float | int | str | None
    unit: str = ""
    target: str = ""
    baseline: float | None = None
    ok: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "value": _finite(self.value), "unit": self.unit}
        if self.target:
            out["target"] = self.target
        if self.baseline is not None:
            out["baseline"] = _finite(self.baseline)
        if self.ok is not None:
            out["ok"] = self.ok
        return out


@dataclass
class BenchResult:
    """Everything one benchmark measured, printed for people and as one JSON line."""

    bench: str
    quick: bool
    figures: list[Figure] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def add(self, name: str, value: float | int | str | None, unit: str = "", *,
            target: str = "", baseline: float | None = None, ok: bool | None = None) -> None:
        """A figure; in a --quick run its target is shown but not judged (too short a run)."""
        self.figures.append(Figure(name, value, unit, target, baseline,
                                   None if self.quick else ok))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def emit(self, stream: Any = None) -> None:
        stream = stream or sys.stdout
        print(f"== {self.bench}{' (quick)' if self.quick else ''} ==", file=stream)
        for table_name, rows in self.tables.items():
            print(f"-- {table_name}", file=stream)
            print(format_table(rows), file=stream)
        for fig in self.figures:
            extra = ""
            if fig.baseline is not None:
                extra += f"  (baseline {fmt(fig.baseline)})"
            if fig.target:
                verdict = "" if fig.ok is None else (" MET" if fig.ok else " MISSED")
                extra += f"  target {fig.target}{verdict}"
            print(f"{fig.name:<44} {fmt(fig.value):>12} {fig.unit:<10}{extra}", file=stream)
        for note in self.notes:
            print(f"note: {note}", file=stream)
        payload = {
            "bench": self.bench,
            "quick": self.quick,
            "seconds": round(time.time() - self.started, 1),
            "load_average": round(load_average(), 2),
            "machine": machine(),
            "figures": [f.as_dict() for f in self.figures],
            "tables": {k: [{c: _finite(v) for c, v in r.items()} for r in rows]
                       for k, rows in self.tables.items()},
            "notes": self.notes,
        }
        print(RESULT_PREFIX + json.dumps(payload), file=stream, flush=True)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_table(rows: Iterable[dict[str, Any]]) -> str:
    rows = list(rows)
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def parse_results(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[len(RESULT_PREFIX):]) for line in text.splitlines()
            if line.startswith(RESULT_PREFIX)]
