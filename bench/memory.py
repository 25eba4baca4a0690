"""Benchmark 5: resident memory at start and after a long run at 2,000 devices.

The daemon polls 2,000 farm devices at 1 s (alarms on every channel, embedded
store) for several minutes while this process scrapes its ``/metrics`` every
15 s as a Prometheus server would (``--scrape-every 0`` for none); its RSS is
sampled every few seconds. Reported:
RSS once every device has been polled, at the end, the peak (the target holds
for every sample, a scrape's transient included), and the growth rate from
``SETTLED_S`` on (a leak shows as a slope there, start-up allocation does not).
Growth is judged only on a run of ``LONG_RUN_S`` or more (``--duration 1200``):
over the 150 s of ``make bench`` one step of the allocator (a 1 MB pymalloc
arena, SQLite's cache filling) is as large as an hour's 5 MB/h, so that run
reports its slope for context. The baseline in the same run is the bare
pymodbus loop's RSS at the same number of devices.

Target (issue 8): <= 100 MB, flat.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench.common import BenchResult, free_port, free_ports
from bench.configs import modbus_site, write_config
from bench.modbus_scale import run_baseline, run_daemon
from bench.procs import farm

FLAT_MB_PER_HOUR = 5.0
SETTLED_S = 60.0  # growth is fitted from here on
LONG_RUN_S = 600.0  # shorter runs report their growth without judging it


#: what a Prometheus server (2.x, default scrape protocols) sends with each scrape
PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0;q=0.5,"
              "application/openmetrics-text;version=0.0.1;q=0.4,"
              "text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
    "Accept-Encoding": "gzip",
    "X-Prometheus-Scrape-Timeout-Seconds": "10",
}


def scrape_loop(port: int, every: float, stop: threading.Event, seconds: list[float],
                sizes: list[int] | None = None) -> None:
    """Fetch /metrics every ``every`` seconds once the daemon answers, as Prometheus would
    (its Accept and Accept-Encoding headers); ``sizes`` gets each answer's bytes."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics",
                                     headers=PROMETHEUS_HEADERS)
    while not stop.wait(every):
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                body = r.read()
                if sizes is not None:
                    sizes.append(len(body))
        except OSError:
            continue  # not started yet, or stopping
        seconds.append(time.monotonic() - started)


def slope_mb_per_hour(samples: list[tuple[float, float]], settled: float) -> float:
    """Growth of RSS in MB/h from ``settled`` seconds on: the Theil-Sen slope (the median of
    the slopes between every two samples).

    RSS moves with each ``/metrics`` scrape (a transient of 1-3 MB while it is
    encoded, then a dip when the freed memory is trimmed): a least-squares fit
    over the second half of a 150-s run turned one such sample into +-10-40
    MB/h. The median of pairwise slopes ignores samples that stand out, and a
    leak, which raises every later sample, still shows in full.
    """
    kept = [(t, m) for t, m in samples if t >= settled]
    slopes = sorted((m2 - m1) / (t2 - t1) for i, (t1, m1) in enumerate(kept)
                    for t2, m2 in kept[i + 1:] if t2 > t1)
    if not slopes:
        return float("nan")
    mid = len(slopes) // 2
    median = slopes[mid] if len(slopes) % 2 else (slopes[mid - 1] + slopes[mid]) / 2
    return median * 3600.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--devices", type=int)
    parser.add_argument("--duration", type=float, help="seconds of the long run")
    parser.add_argument("--scrape-every", type=float, default=15.0,
                        help="seconds between /metrics scrapes (0: none)")
    parser.add_argument("--rss-every", type=float,
                        help="seconds between RSS samples (default 5, 2 with --quick)")
    args = parser.parse_args(argv)
    devices = args.devices or (200 if args.quick else 2000)
    duration = args.duration or (6.0 if args.quick else 150.0)
    rss_every = args.rss_every or (2.0 if args.quick else 5.0)
    result = BenchResult("memory", args.quick)
    ports = free_ports(4)
    http_port = free_port()
    scrapes: list[float] = []
    sizes: list[int] = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp, farm(ports):
        base = run_baseline(ports, devices, warmup=1.0, duration=3.0)
        config = write_config(Path(tmp) / "site.yaml",
                              modbus_site(Path(tmp) / "data", devices, ports,
                                          http_port=http_port))
        stop = threading.Event()
        scraper = threading.Thread(target=scrape_loop, daemon=True,
                                   args=(http_port, args.scrape_every, stop, scrapes, sizes))
        if args.scrape_every > 0:
            scraper.start()
        try:
            out = run_daemon(config, warmup=0.0, duration=duration, http=True,
                             extra=("--rss-every", str(rss_every)))
        finally:
            stop.set()
    samples = [(float(t), float(m)) for t, m in out["rss_mb"]]
    start, end = samples[0][1], samples[-1][1]
    peak = max(m for _, m in samples)
    settled = min(SETTLED_S, duration / 2)
    slope = slope_mb_per_hour(samples, settled)
    result.tables["rss"] = [{"t_s": round(t, 1), "rss_mb": round(m, 1)} for t, m in samples]
    result.add(f"RSS after first poll, {devices} devices", start, "MB",
               baseline=base["rss_mb"])
    result.add(f"RSS after {duration:.0f} s", end, "MB", target="<= 100 MB", ok=peak <= 100)
    result.add("RSS peak", peak, "MB")
    judged = not args.quick and duration >= LONG_RUN_S
    result.add(f"RSS growth from {settled:.0f} s (Theil-Sen)", slope, "MB/h",
               target=f"flat (<= {FLAT_MB_PER_HOUR:g} MB/h)" if judged else "",
               ok=abs(slope) <= FLAT_MB_PER_HOUR if judged else None)
    if not judged:
        result.note(f"growth is judged on runs of {LONG_RUN_S:.0f} s or more "
                    "(python -m bench.memory --duration 1200): over a shorter run one step "
                    "of the allocator weighs as much as an hour's growth at the bound")
    result.add("readings during the run / expected", out["readings"] / (devices * 10 * duration),
                "", target=">= 0.99", ok=out["readings"] >= 0.99 * devices * 10 * duration)
    if scrapes:
        result.add("/metrics scrapes during the run", len(scrapes), "")
        result.add("/metrics scrape time, max", max(scrapes), "s")
        result.add("/metrics answer as sent (gzip), max", max(sizes) / 1e6, "MB")
    result.emit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
