"""One ``/metrics`` answer at N devices, built in-process: bytes, lines, time, memory.

The memory benchmark scrapes a running daemon, where a scrape's cost is mixed
with polling on a shared machine. This builds the same runtime the daemon
would for the benchmark site (``bench.configs.modbus_site``: N devices of 10
channels, alert and action limits on each), feeds one reading per channel
(``--alarms`` of them above the action limit, so that some points are active),
then times ``registry.prepare()`` + ``render`` (what ``GET /metrics`` runs) a
few times and reports the answer's size, its line count, the median time and
the peak of memory traced while encoding (tracemalloc, a separate pass).

Run from a clean clone of another commit to compare trees side by side::

    python -m bench.metrics_scrape --devices 2000
    cd /tmp/base && cp /work/main/bench/metrics_scrape.py bench/ && \
        /work/main/.venv/bin/python -m bench.metrics_scrape --devices 2000
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench.common import rss_bytes
from bench.configs import CHANNELS, modbus_site, write_config

T0 = 1_780_000_000_000_000_000


def measure(devices: int, *, alarms: int, repeat: int, accept: str | None,
            dump: str | None = None, gzip: bool = False) -> dict[str, Any]:
    from monitor.config import load_config
    from monitor.metrics import build_registry, render
    from monitor.model import Quality, Reading
    from monitor.runtime import build_runtime

    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp:
        path = write_config(Path(tmp) / "site.yaml",
                            modbus_site(Path(tmp) / "data", devices, [1502]))
        loaded = load_config(path)
        runtime = build_runtime(loaded, with_http=False)
        registry = build_registry(runtime)
        # nothing commits here (no store task runs): keep readings out of the store's buffer
        runtime.pipeline.stores = []
        channels = list(loaded.channels)
        hot = set(channels[:: max(1, len(channels) // alarms)][:alarms]) if alarms else set()
        for k in range(3):  # three rounds: values, timestamps, alarm on-delays all settled
            runtime.pipeline.ingest([
                Reading(cid, 99.0 if cid in hot else 21.5, Quality.GOOD, T0 + k * 10**9)
                for cid in channels])
            runtime.pipeline.tick(T0 + k * 10**9)
        gc.collect()
        rss_before = rss_bytes() / 2**20
        times, body, rss_trend = [], b"", []
        for k in range(repeat):
            started = time.perf_counter()
            registry.prepare()
            body, _ = render(registry, accept, **({"gzip": True} if gzip else {}))
            times.append(time.perf_counter() - started)
            # new values and times between scrapes, as polling would bring
            runtime.pipeline.ingest([Reading(cid, 21.5 + k * 0.01, Quality.GOOD,
                                             T0 + (k + 3) * 10**9) for cid in channels])
            if k % 5 == 4:
                rss_trend.append(round(rss_bytes() / 2**20, 1))
        rss_after = rss_bytes() / 2**20
        tracemalloc.start()
        registry.prepare()
        render(registry, accept, **({"gzip": True} if gzip else {}))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        if runtime.alarms is not None:
            runtime.alarms.close()
    if gzip:
        import zlib

        size_gzip = len(body)
        body = zlib.decompress(body, 31)
    text = body.decode()
    if dump:
        Path(dump).write_text(text)
    return {
        "devices": devices, "channels": devices * CHANNELS, "alarms_active": len(hot),
        "bytes": len(body), **({"bytes_gzip": size_gzip} if gzip else {}),
        "lines": text.count("\n"),
        "sample_lines": sum(1 for line in text.splitlines() if not line.startswith("#")),
        "encode_s_median": statistics.median(times), "encode_s_min": min(times),
        "encode_peak_traced_mb": peak / 2**20,
        "rss_mb_before_scrapes": rss_before, "rss_mb_after_scrapes": rss_after,
        "rss_mb_every_5_scrapes": rss_trend,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--alarms", type=int, default=20, help="channels above action limit")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--openmetrics", action="store_true",
                        help="ask for OpenMetrics (the library's encoder) instead of text")
    parser.add_argument("--gzip", action="store_true", help="gzip the answer (as for "
                        "Prometheus, which sends Accept-Encoding: gzip)")
    parser.add_argument("--dump", help="write the last answer to this file")
    args = parser.parse_args(argv)
    accept = "application/openmetrics-text; version=1.0.0" if args.openmetrics else None
    result = measure(args.devices, alarms=args.alarms, repeat=args.repeat, accept=accept,
                     dump=args.dump, gzip=args.gzip)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
