"""Benchmark 1: Modbus polling at 100..2,000 devices, the daemon against a bare pymodbus loop.

For each N, one farm process serves N devices (10 holding registers each) and,
in turn, the baseline loop (bench.modbus_baseline) and the daemon
(bench.daemon_probe: drivers, decoding, alarm evaluation of every channel,
embedded store) poll them at 1 s. Both measure their CPU from /proc over the
same length of window after a warm-up; the ratio of CPU per poll is the
figure, the absolute numbers are context. Readings are also counted at the
store. A PNG of CPU against N is written to docs/.

Targets (issue 8): 2,000 devices within a quarter of one core; daemon CPU per
reading within 1.5x the bare loop.
"""

from __future__ import annotations

import argparse
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, BenchResult, cpu_seconds, free_port, free_ports
from bench.configs import CHANNELS, modbus_site, write_config
from bench.procs import Child, farm, python_module
from bench.store_count import count_readings

FULL_SIZES = (100, 500, 1000, 2000)
QUICK_SIZES = (50,)
PLOT = ROOT / "docs" / "perf_modbus_cpu.png"


def run_baseline(ports: list[int], devices: int, warmup: float, duration: float) -> dict[str, Any]:
    child = Child(python_module("bench.modbus_baseline", "--ports", ",".join(map(str, ports)),
                                "--devices", str(devices), "--warmup", str(warmup),
                                "--duration", str(duration)), name="baseline")
    try:
        return child.result(timeout=warmup + duration + 120)
    finally:
        child.stop()


def run_daemon(config: Path, warmup: float, duration: float, *, profile: Path | None = None,
               http: bool = False, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    args = ["--config", str(config), "--warmup", str(warmup), "--duration", str(duration),
            "--t0-ns", str(time.time_ns()), *extra]
    if profile is not None:
        args += ["--profile", str(profile)]
    if http:
        args.append("--http")
    child = Child(python_module("bench.daemon_probe", *args), name="daemon")
    try:
        return child.result(timeout=warmup + duration + 180)
    finally:
        child.stop()


def measure(devices: int, warmup: float, duration: float, workdir: Path,
            profile: Path | None, *, connection: dict[str, Any] | None = None,
            ) -> dict[str, Any]:
    ports = free_ports(4)
    with farm(ports) as sim:
        sim_cpu0, sim_t0 = cpu_seconds(sim.pid), time.monotonic()
        base = run_baseline(ports, devices, warmup=3.0, duration=duration)
        data_dir = workdir / f"data-{devices}"
        site = modbus_site(data_dir, devices, ports, http_port=free_port())
        for conn in site["connections"]:
            conn.update(connection or {})
        config = write_config(workdir / f"site-{devices}.yaml", site)
        daemon = run_daemon(config, warmup, duration, profile=profile)
        sim_share = (cpu_seconds(sim.pid) - sim_cpu0) / (time.monotonic() - sim_t0)
    stored = count_readings(data_dir, *daemon["window_ns"])
    expected = devices * CHANNELS
    d_share = daemon["cpu_s"] / daemon["wall_s"]
    b_share = base["cpu_s"] / base["wall_s"]
    d_per_poll = daemon["cpu_s"] / max(1, daemon["readings"] / CHANNELS) * 1000
    b_per_poll = base["cpu_s"] / max(1, base["polls"]) * 1000
    return {
        "devices": devices,
        "expected_rps": expected,
        "daemon_rps": daemon["readings"] / daemon["wall_s"],
        "stored_rps": stored / daemon["wall_s"],
        "baseline_rps": base["readings"] / base["wall_s"],
        "daemon_cpu_pct": d_share * 100,
        "baseline_cpu_pct": b_share * 100,
        "daemon_ms_per_poll": d_per_poll,
        "baseline_ms_per_poll": b_per_poll,
        "ratio": d_per_poll / b_per_poll if b_per_poll else float("nan"),
        "daemon_jitter_p50_ms": daemon["jitter_p50_ms"],
        "daemon_jitter_p99_ms": daemon["jitter_p99_ms"],
        "baseline_jitter_p50_ms": base["jitter_p50_ms"],
        "baseline_jitter_p99_ms": base["jitter_p99_ms"],
        "daemon_rss_mb": daemon["rss_mb"][-1][1],
        "farm_cpu_pct": sim_share * 100,
    }


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["devices"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    ax.plot(n, [r["daemon_cpu_pct"] for r in rows], "o-", label="daemon (decode + alarms + store)")
    ax.plot(n, [r["baseline_cpu_pct"] for r in rows], "s--", label="bare pymodbus loop (baseline)")
    ax.axhline(25, color="red", linewidth=0.8, linestyle=":", label="target: 25 % of a core")
    ax.set_xlabel("devices polled at 1 s (10 registers each)")
    ax.set_ylabel("CPU, % of one core")
    ax.set_title("Modbus polling CPU vs number of devices")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", help="comma-separated device counts")
    parser.add_argument("--duration", type=float)
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the daemon at the largest N and print the top functions")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--start-jitter", help="every connection's start_jitter (e.g. 0s, 1s)")
    parser.add_argument("--start-phases", type=int, help="every connection's start_phases")
    args = parser.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else (
        QUICK_SIZES if args.quick else FULL_SIZES)
    duration = args.duration or (3.0 if args.quick else 12.0)
    warmup = 2.0 if args.quick else 5.0
    result = BenchResult("modbus_scale", args.quick)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-modbus-") as tmp:
        workdir = Path(tmp)
        for n in sizes:
            profile = workdir / "daemon.prof" if args.profile and n == max(sizes) else None
            connection: dict[str, Any] = {}
            if args.start_jitter:
                connection["start_jitter"] = args.start_jitter
            if args.start_phases:
                connection["start_phases"] = args.start_phases
            row = measure(n, warmup, duration, workdir, profile, connection=connection)
            rows.append(row)
            print(f"N={n}: daemon {row['daemon_cpu_pct']:.1f} % vs baseline "
                  f"{row['baseline_cpu_pct']:.1f} %, ratio {row['ratio']:.2f}", flush=True)
            if profile is not None:
                pstats.Stats(str(profile)).sort_stats("tottime").print_stats(25)
    result.tables["modbus_scale"] = rows
    top = rows[-1]
    result.add(f"daemon CPU at {top['devices']} devices", top["daemon_cpu_pct"], "% core",
               target="<= 25 %" if top["devices"] >= 2000 else "",
               baseline=top["baseline_cpu_pct"],
               ok=top["daemon_cpu_pct"] <= 25 if top["devices"] >= 2000 else None)
    result.add("daemon/baseline CPU per reading", top["ratio"], "x", target="<= 1.5",
               ok=top["ratio"] <= 1.5)
    result.add("readings/s achieved / expected", top["daemon_rps"] / top["expected_rps"], "",
               target=">= 0.99", ok=top["daemon_rps"] >= 0.99 * top["expected_rps"])
    result.add("readings/s at the store / expected", top["stored_rps"] / top["expected_rps"], "")
    result.add("poll jitter p99", top["daemon_jitter_p99_ms"], "ms",
               baseline=top["baseline_jitter_p99_ms"])
    if not args.no_plot and len(rows) > 1:
        plot(rows, PLOT)
        result.note(f"plot written to {PLOT.relative_to(ROOT)}")
    result.emit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
