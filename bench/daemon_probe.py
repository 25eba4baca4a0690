"""The daemon under measurement: ``monitor.service.Service`` in a process of its own.

It is the same service ``cleanroom-monitor run`` starts, with a reading
listener and an event listener added through the service's ``on_runtime``
hook. The listeners only count and keep timestamps (a dict look-up per
reading), so what is measured is the daemon. The process measures its own CPU
from /proc over a window after a warm-up (drivers, decoding, alarm engine,
embedded store and its commit thread: the whole process), samples its RSS,
and prints one ``RESULT {json}`` line when done.

Start-up is timed three ways: from ``--t0-ns`` (the parent's clock just before
it started this process: exec + imports + config load + first poll), from just
before ``Service(...)`` (config load + runtime build + first poll), and to the
moment every device has been polled once.

The event loop is the daemon's (monitor/eventloop.py): ``--loop``, else
``$CLEANROOM_BENCH_LOOP`` (so a benchmark that starts this probe can be run
on either loop unchanged), else the config's top-level ``event_loop``, else
``auto``. The config's key is found by a line scan, not by parsing the file:
parsing 2,000 devices here would add to the start-up timed from ``--t0-ns``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import logging
import math
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import cpu_seconds, rss_bytes


class Histogram:
    """Counts of durations in 0.1 ms steps up to 10 s, kept sparse (only steps seen).

    The probe runs inside the daemon's process, so what it holds is charged to
    the daemon's RSS by the memory benchmark. It used to append every poll's
    jitter to a list (at 2,000 devices 2,000 ints a second, 290 MB/h of growth),
    then kept a dense array of every step (~800 KB); jitters fall in a few
    hundred steps, so a dict of the steps seen holds the same counts in a few
    kB. Percentiles are read to the step (0.1 ms), as before.
    """

    STEP_NS = 100_000
    SIZE = 100_001  # the last bucket holds everything at or above 10 s

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.n = 0

    def add(self, value_ns: int) -> None:
        step = min(value_ns // self.STEP_NS, self.SIZE - 1)
        self.counts[step] = self.counts.get(step, 0) + 1
        self.n += 1

    def percentile_ns(self, pct: float) -> float:
        """Nearest rank, as bench.common.percentile; the bucket's middle; NaN when empty."""
        if not self.n:
            return math.nan
        rank, seen = max(1, math.ceil(pct / 100.0 * self.n)), 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return (index + 0.5) * self.STEP_NS
        return math.nan


class Probe:
    """Counts readings and polls, and timestamps alarm events, from inside the service."""

    def __init__(self, watch_interval: float, print_events: bool) -> None:
        self.readings = 0
        self.interval_ns = int(watch_interval * 1e9)
        self.print_events = print_events
        self.first_reading_ns: int | None = None
        #: CPU seconds (every thread, and the event loop's thread) at the first reading
        self.first_reading_cpu: tuple[float, float] | None = None
        self.all_polled_ns: int | None = None
        self.watch: dict[str, int] = {}  # first channel of each device -> device index
        self.last_ts: list[int] = []
        self.polled_once = 0
        self.counting = False
        self.jitter = Histogram()
        self.polls = 0
        self.events = 0
        self.bad_quality = 0

    def set_devices(self, first_channels: Sequence[str]) -> None:
        self.watch = {c: i for i, c in enumerate(first_channels)}
        self.last_ts = [0] * len(first_channels)

    def on_readings(self, readings: Sequence[Any]) -> None:
        self.readings += len(readings)
        if self.first_reading_ns is None:
            self.first_reading_ns = time.time_ns()
            self.first_reading_cpu = (time.process_time(), time.thread_time())
        watch, last = self.watch, self.last_ts
        for reading in readings:
            index = watch.get(reading.channel)
            if index is None:
                continue
            previous = last[index]
            last[index] = reading.ts_ns
            if reading.quality != "good":
                self.bad_quality += 1
            if previous == 0:
                self.polled_once += 1
                if self.polled_once == len(last):
                    self.all_polled_ns = time.time_ns()
            elif self.counting:
                self.polls += 1
                self.jitter.add(abs(reading.ts_ns - previous - self.interval_ns))

    def on_events(self, events: Sequence[Any]) -> None:
        now = time.time_ns()
        self.events += len(events)
        if self.print_events:
            for event in events:
                print("EVENT " + json.dumps({"at_ns": now, **describe_event(event)}), flush=True)


def describe_event(event: Any) -> dict[str, Any]:
    """The fields of an alarm event a benchmark needs, whatever the event's class."""
    out: dict[str, Any] = {"type": type(event).__name__}
    for name in ("channel", "location", "kind", "level", "state", "transition", "condition",
                 "priority", "value", "ts_ns", "alarm_id", "id"):
        value = getattr(event, name, None)
        if value is not None:
            out[name] = value if isinstance(value, int | float | bool) else str(value)
    return out


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    logging.basicConfig(level=logging.WARNING)
    t_construct = time.time_ns()
    cpu_construct = (time.process_time(), time.thread_time())
    from monitor.service import Service

    probe = Probe(args.interval, args.print_events)
    runtime_ref: list[Any] = []

    def on_runtime(runtime: Any) -> None:
        runtime.pipeline.reading_listeners.append(probe.on_readings)
        runtime.pipeline.event_listeners.append(probe.on_events)
        runtime_ref.append(runtime)
        devices = [d for d in runtime.loaded.config.devices if d.enabled]
        firsts = [f"{d.name}/{runtime.loaded.device_channels(d)[0].name}" for d in devices]
        probe.set_devices(firsts)

    service = Service(args.config, with_http=args.http, on_runtime=on_runtime)
    t_loaded = time.time_ns()
    task = asyncio.create_task(service.run())
    result: dict[str, Any] = {}
    deadline = time.monotonic() + args.startup_timeout
    if args.subscriber:  # nothing is polled: ready once started and subscribed
        while not service.ready.is_set() and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.005)
        await asyncio.sleep(1.0)
    while (probe.all_polled_ns is None and not args.subscriber
           and time.monotonic() < deadline and not task.done()):
        await asyncio.sleep(0.005)
    if task.done():
        task.result()
    phase(f"ready: {probe.polled_once} devices polled")
    print("ready", flush=True)
    result["startup"] = {
        "exec_to_first_reading_s": _secs(args.t0_ns, probe.first_reading_ns),
        "construct_to_first_reading_s": _secs(t_construct, probe.first_reading_ns),
        # CPU over the same span: the whole process, and the event loop's thread alone
        # (the readings store starts on a worker thread of its own meanwhile)
        "construct_to_first_reading_cpu_s": _cpu(cpu_construct, probe.first_reading_cpu, 0),
        "construct_to_first_reading_loop_cpu_s":
            _cpu(cpu_construct, probe.first_reading_cpu, 1),
        "config_load_s": _secs(t_construct, t_loaded),
        "construct_to_all_polled_s": _secs(t_construct, probe.all_polled_ns),
        "devices_polled": probe.polled_once,
    }
    rss: list[tuple[float, float]] = [(0.0, rss_bytes() / 2**20)]
    t_start = time.monotonic()
    await asyncio.sleep(args.warmup)
    profiler = cProfile.Profile() if args.profile else None
    cpu0, wall0, readings0, ts0 = cpu_seconds(), time.monotonic(), probe.readings, time.time_ns()
    probe.counting = True
    if profiler is not None:
        profiler.enable()
    end = wall0 + args.duration
    stdin_closed = asyncio.Event()
    if args.window_stdin:  # the window lasts until a line (or EOF) arrives on stdin
        loop = asyncio.get_running_loop()
        threading.Thread(target=lambda: (sys.stdin.readline(),
                                         loop.call_soon_threadsafe(stdin_closed.set)),
                         daemon=True).start()
        end = float("inf")
    tracer = asyncio.create_task(trace_growth(args.tracemalloc_every)) \
        if args.tracemalloc_every else None
    if args.diag_file:
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump_diagnostics,
                                                      args.diag_file, runtime_ref)
    while (now := time.monotonic()) < end and not task.done() and not stdin_closed.is_set():
        if args.window_stdin:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stdin_closed.wait(), args.rss_every)
            rss.append((time.monotonic() - t_start, rss_bytes() / 2**20))
            continue
        await asyncio.sleep(min(args.rss_every, end - now))
        rss.append((time.monotonic() - t_start, rss_bytes() / 2**20))
    if tracer is not None:
        tracer.cancel()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    cpu, wall, ts1 = cpu_seconds() - cpu0, time.monotonic() - wall0, time.time_ns()
    readings = probe.readings - readings0
    probe.counting = False
    phase(f"window done: {probe.readings - readings0} readings; stopping")
    t_stop = time.monotonic()
    service.request_stop()
    stop_s: float | None = None  # stays None: "did not stop within the limit"
    done, _ = await asyncio.wait({task}, timeout=args.stop_timeout)
    if done:
        stop_s = time.monotonic() - t_stop
    else:
        dump_tasks()
    phase(f"stopped in {stop_s} s")
    result.update({
        "stop_s": stop_s,
        "cpu_s": cpu, "wall_s": wall, "readings": readings, "polls": probe.polls,
        "window_ns": [ts0, ts1], "events": probe.events, "bad_quality": probe.bad_quality,
        "jitter_p50_ms": probe.jitter.percentile_ns(50) / 1e6,
        "jitter_p99_ms": probe.jitter.percentile_ns(99) / 1e6,
        "rss_mb": rss,
    })
    return result


async def trace_growth(every: float, top: int = 20) -> None:
    """tracemalloc from the start of the window: every ``every`` s, on stderr, the lines
    whose traced memory grew most since the first snapshot (what a leak is made of)."""
    import tracemalloc

    tracemalloc.start(1)
    await asyncio.sleep(min(every, 30.0))
    first = tracemalloc.take_snapshot()
    while True:
        await asyncio.sleep(every)
        snap = tracemalloc.take_snapshot()
        stats = snap.compare_to(first, "lineno")
        traced = tracemalloc.get_traced_memory()[0] / 2**20
        lines = [f"tracemalloc: {traced:.1f} MB traced; grown since first snapshot:"]
        lines += [f"  {stat}" for stat in stats[:top] if stat.size_diff > 0]
        phase("\n".join(lines))


def dump_diagnostics(path: str, runtime_ref: list[Any]) -> None:
    """SIGUSR1 with ``--diag-file``: the process's own view of its memory (glibc arenas,
    pymalloc, tracemalloc groups; ``bench.memory_breakdown``) and the readings the stores
    still hold (a backlog is live memory, not a leak) as JSON to ``path``, then a ``DIAG``
    line on stdout. Runs on the event loop, as a scrape's ``prepare`` does."""
    from bench.memory_breakdown import in_process_snapshot

    snapshot = in_process_snapshot()
    if runtime_ref:
        snapshot["stores_pending"] = {s.name: getattr(s, "pending", None)
                                      for s in runtime_ref[-1].stores}
    Path(path).write_text(json.dumps(snapshot), encoding="utf-8")
    print("DIAG", flush=True)


def dump_tasks() -> None:
    """Where a stop hangs: every pending task's stack, on stderr."""
    for pending in asyncio.all_tasks():
        if pending is not asyncio.current_task():
            phase(f"still pending: {pending.get_name()}")
            pending.print_stack(limit=6, file=sys.stderr)


def phase(text: str) -> None:
    """Progress on stderr: where a stuck run got to."""
    print(f"probe {time.strftime('%H:%M:%S')}: {text}", file=sys.stderr, flush=True)


def _cpu(start: tuple[float, float], end: tuple[float, float] | None, which: int) -> float | None:
    return None if end is None else end[which] - start[which]


def _secs(start_ns: int | None, end_ns: int | None) -> float | None:
    if start_ns is None or end_ns is None:
        return None
    return (end_ns - start_ns) / 1e9


#: A top-level ``event_loop`` key: column 0 in block YAML, one space in bench/configs.py's JSON.
_EVENT_LOOP_KEY = re.compile(r"""^ ?["']?event_loop["']?\s*:\s*["']?(\w+)""", re.MULTILINE)


def loop_choice(flag: str | None, config: str) -> str:
    """The event loop to run on: the flag, the environment, the config, or the default."""
    if flag:
        return flag
    if env := os.environ.get("CLEANROOM_BENCH_LOOP"):
        return env
    match = _EVENT_LOOP_KEY.search(Path(config).read_text(encoding="utf-8"))
    return match.group(1) if match else "auto"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--interval", type=float, default=1.0, help="devices' poll interval")
    parser.add_argument("--t0-ns", type=int, default=None)
    parser.add_argument("--startup-timeout", type=float, default=60.0)
    parser.add_argument("--rss-every", type=float, default=5.0)
    parser.add_argument("--http", action="store_true", help="start the HTTP API/metrics too")
    parser.add_argument("--print-events", action="store_true")
    parser.add_argument("--stop-timeout", type=float, default=60.0)
    parser.add_argument("--subscriber", action="store_true",
                        help="devices are MQTT: ready once started, not once all polled")
    parser.add_argument("--window-stdin", action="store_true",
                        help="measure until a line arrives on stdin instead of --duration")
    parser.add_argument("--profile", help="write cProfile stats of the window to this file")
    parser.add_argument("--loop", choices=["auto", "uvloop", "asyncio"],
                        help="event loop (default: $CLEANROOM_BENCH_LOOP, else the config's "
                        "event_loop, else auto)")
    parser.add_argument("--tracemalloc-every", type=float, default=0.0,
                        help="trace allocations in the window and print the growth this often")
    parser.add_argument("--diag-file",
                        help="on SIGUSR1, write memory diagnostics here (bench.memory_breakdown)")
    args = parser.parse_args(argv)
    from monitor import eventloop

    choice = loop_choice(args.loop, args.config)
    result = eventloop.run(_run(args), choice, setting="probe")
    result["event_loop"] = eventloop.loop_factory(choice)[0]
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
