"""CPU per poll of the Modbus drivers alone: polling, decoding, readings, schedule.

The full-daemon benchmark (bench.modbus_scale) also measures the alarm
engine, the embedded store and its commit thread, and needs a quiet machine
to compare two trees. This one runs only ``build_drivers`` of a generated
site against the device farm, with an ``emit`` that counts readings, so a
change to the Modbus path can be compared between two trees (run it with each
tree first on PYTHONPATH, alternately) or between schedule settings, on a
shared machine: CPU per poll is what the process spent, however long the
machine made it wait.

    python -m bench.modbus_driver_cpu --devices 2000 --seconds 10 [--start-phases 4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import cpu_seconds, free_ports, percentile
from bench.configs import CHANNELS, modbus_site, write_config
from bench.procs import farm


async def _poll(config: Path, warmup: float, seconds: float) -> dict[str, Any]:
    from monitor.config import load_config
    from monitor.runtime import build_drivers

    loaded = load_config(config)
    counted = [0]
    last: dict[str, int] = {}
    jitter: list[int] = []
    measuring = [False]

    def emit(readings: Sequence[Any]) -> None:
        counted[0] += len(readings)
        first = readings[0]
        previous = last.get(first.channel)
        last[first.channel] = first.ts_ns
        if measuring[0] and previous is not None:
            jitter.append(abs(first.ts_ns - previous - 1_000_000_000))

    t_build = time.perf_counter()
    drivers = build_drivers(loaded, emit)
    build_s = time.perf_counter() - t_build
    gc.collect()
    gc.freeze()  # as the service does after a start: the config is not walked by every collection
    tasks = [asyncio.create_task(d.run()) for d in drivers]
    await asyncio.sleep(warmup)
    cpu0, wall0, n0 = cpu_seconds(), time.monotonic(), counted[0]
    measuring[0] = True
    await asyncio.sleep(seconds)
    cpu, wall, readings = cpu_seconds() - cpu0, time.monotonic() - wall0, counted[0] - n0
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    polls = readings / CHANNELS
    return {
        "devices": len(drivers), "build_s": build_s, "cpu_s": cpu, "wall_s": wall,
        "polls_per_s": polls / wall, "cpu_pct": cpu / wall * 100,
        "us_per_poll": cpu / max(polls, 1) * 1e6,
        "jitter_p50_ms": percentile(jitter, 50) / 1e6,
        "jitter_p99_ms": percentile(jitter, 99) / 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--start-jitter", default="1s")
    parser.add_argument("--start-phases", type=int)
    parser.add_argument("--uvloop", action="store_true",
                        help="run on uvloop's event loop instead of asyncio's (if installed)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    ports = free_ports(4)
    with tempfile.TemporaryDirectory(prefix="bench-driver-") as tmp, farm(ports):
        site = modbus_site(Path(tmp) / "data", args.devices, ports, limits=False)
        for conn in site["connections"]:
            conn["start_jitter"] = args.start_jitter
            if args.start_phases:
                conn["start_phases"] = args.start_phases
        config = write_config(Path(tmp) / "site.yaml", site)
        factory = None
        if args.uvloop:
            import uvloop  # optional, not a dependency: the question is what it would save

            factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            result = runner.run(_poll(config, args.warmup, args.seconds))
    result["start_jitter"], result["start_phases"] = args.start_jitter, args.start_phases
    result["loop"] = "uvloop" if args.uvloop else "asyncio"
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
