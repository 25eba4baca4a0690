"""CPU per reading of the embedded store: ``append`` on the loop, the commit on its thread.

In-process, no devices: ``--devices`` polls of ``--channels`` readings each
are appended once per simulated second (Modbus-like readings: a scaled value,
its raw register value, quality good, the location's state asked through
``state_of``), and every ``--commit-interval`` of simulated time the store's
own ``flush()`` commits what was buffered, on its worker thread, exactly as
``EmbeddedStore.run`` does. Time is simulated, not waited for: the figure is
CPU, and the run covers enough simulated seconds for the index to outgrow the
page cache (the steady state of a daemon that runs for days, not its first
minute).

CPU is split by thread: the main thread's ``time.thread_time`` is ``append``
(timed around each call only), and the whole process's CPU minus the main
thread's is the commit thread. Results are printed per window of simulated
time, so growth with the database size shows, and as one ``RESULT {json}``
line. A long run can start from a database already holding ``--prefill``
seconds of readings (written the same way, not measured).

    python -m bench.store_append --seconds 120 --window 30
    python -m bench.store_append --profile commit   # cProfile of the commit thread
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import math
import pstats
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from monitor.model import Quality, Reading
from monitor.storage.embedded import EmbeddedStore


def _channels(devices: int, per_device: int) -> dict[str, Any]:
    """ChannelInfo look-alikes: what the store reads from the loaded config."""
    out: dict[str, Any] = {}
    for d in range(devices):
        for c in range(per_device):
            cid = f"dev{d:04d}/ch{c}"
            out[cid] = SimpleNamespace(
                id=cid, device=f"dev{d:04d}", location=f"loc{d:04d}", room=f"room{d // 10}",
                grade="B", spec=SimpleNamespace(unit="Pa"), site="site",
            )
    return out


def _polls(devices: int, per_device: int, second: int, t0_ns: int) -> list[list[Reading]]:
    """One second of polls: each device's readings share its reply time."""
    polls = []
    for d in range(devices):
        ts = t0_ns + second * 1_000_000_000 + d * 499_750
        raw = 1000 + (second + d) % 50
        polls.append([
            Reading(f"dev{d:04d}/ch{c}", raw * 0.1 + c, Quality.GOOD, ts, float(raw + c))
            for c in range(per_device)
        ])
    return polls


class _Bench:
    def __init__(self, args: argparse.Namespace, path: Path) -> None:
        self.args = args
        self.channels = _channels(args.devices, args.channels)
        states = {f"loc{d:04d}": "in_operation" for d in range(args.devices)}
        self.store = EmbeddedStore(
            path, self.channels, commit_interval=args.commit_interval,
            state_of=states.get, synchronous=args.synchronous,
        )
        self.t0_ns = 1_800_000_000_000_000_000
        self.second = 0

    async def feed(self, seconds: int, measure: bool) -> dict[str, float]:
        """Append and commit ``seconds`` of readings; CPU per part if ``measure``."""
        store, args = self.store, self.args
        per_commit = max(1, round(1 / args.commit_interval))
        chunk = math.ceil(args.devices / per_commit)
        append_cpu = 0.0
        readings = 0
        wall0 = time.perf_counter()
        proc0, main0 = time.process_time(), time.thread_time()
        for _ in range(seconds):
            polls = _polls(args.devices, args.channels, self.second, self.t0_ns)
            self.second += 1
            for part in range(per_commit):
                batch = polls[part * chunk:(part + 1) * chunk]
                t = time.thread_time()
                for poll in batch:
                    store.append(poll)
                append_cpu += time.thread_time() - t
                readings += sum(len(p) for p in batch)
                await store.flush()
        main_cpu = time.thread_time() - main0
        commit_cpu = (time.process_time() - proc0) - main_cpu
        wall = time.perf_counter() - wall0
        if not measure:
            return {}
        return {
            "readings": readings,
            "append_us": append_cpu / readings * 1e6,
            "commit_us": commit_cpu / readings * 1e6,
            "total_us": (append_cpu + commit_cpu) / readings * 1e6,
            "wall_us": wall / readings * 1e6,
        }


async def _run(args: argparse.Namespace, path: Path) -> dict[str, Any]:
    bench = _Bench(args, path)
    gc.freeze()  # as the daemon does with what its start built (monitor/service.py)
    try:
        if args.prefill:
            await bench.feed(args.prefill, measure=False)
        profiler = cProfile.Profile() if args.profile else None
        if profiler is not None and args.profile == "commit":
            original = bench.store._commit

            def profiled(*a: Any, **kw: Any) -> None:
                profiler.enable()
                try:
                    original(*a, **kw)
                finally:
                    profiler.disable()

            bench.store._commit = profiled  # type: ignore[method-assign]
        elif profiler is not None:
            profiler.enable()
        windows = []
        for start in range(0, args.seconds, args.window):
            span = min(args.window, args.seconds - start)
            result = await bench.feed(span, measure=True)
            result["from_s"] = args.prefill + start
            windows.append(result)
            print(
                f"  s {args.prefill + start:5d}-{args.prefill + start + span:<5d}"
                f" append {result['append_us']:5.2f} us  commit {result['commit_us']:5.2f} us"
                f"  total {result['total_us']:5.2f} us  (wall {result['wall_us']:5.2f} us)",
                flush=True,
            )
        if profiler is not None and args.profile != "commit":
            profiler.disable()
    finally:
        await bench.store.close()
    if profiler is not None:
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(25)
    total = sum(w["readings"] for w in windows)

    def mean(key: str) -> float:
        return sum(w[key] * w["readings"] for w in windows) / total

    size = path.stat().st_size  # noqa: ASYNC240 (after the measurement)
    return {
        "devices": args.devices, "channels": args.channels, "seconds": args.seconds,
        "prefill": args.prefill, "readings": total, "db_bytes": size,
        "bytes_per_reading": size / max(1, total + args.prefill * args.devices * args.channels),
        "append_us": mean("append_us"), "commit_us": mean("commit_us"),
        "total_us": mean("total_us"), "windows": windows,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--channels", type=int, default=10, help="readings per poll")
    parser.add_argument("--seconds", type=int, default=60, help="simulated seconds measured")
    parser.add_argument("--window", type=int, default=20, help="seconds per printed line")
    parser.add_argument("--prefill", type=int, default=0, help="simulated seconds not measured")
    parser.add_argument("--commit-interval", type=float, default=0.5)
    parser.add_argument("--synchronous", default="FULL")
    parser.add_argument("--dir", type=Path, default=None, help="where readings.db goes")
    parser.add_argument("--profile", choices=["commit", "all"], default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="store-bench-", dir=args.dir) as tmp:
        result = asyncio.run(_run(args, Path(tmp) / "readings.db"))
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
