"""The daemon under fault: a real ``Service`` in the test's event loop, fed by a device farm.

Every fault test follows the same shape: start the farm (``bench.modbus_farm``,
real Modbus TCP on loopback) and the service from a generated config; count
every reading the pipeline accepts; inject the fault and look at what an
operator would see while it lasts (the Prometheus text ``/metrics`` serves,
health alarms among the alarm events, the storage health list); remove the
fault; stop the service cleanly; then count what reached the store. Nothing
accepted may be missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.configs import duration, modbus_site
from bench.modbus_farm import ModbusFarm
from bench.store_count import count_readings
from monitor.model import Quality, Reading
from monitor.runtime import Runtime
from monitor.service import Service

POLL = 0.2
TIMEOUT = 0.3


def fault_site(data_dir: Path, ports: Sequence[int], *, devices: int = 4,
               sinks: Sequence[dict[str, Any]] = (), **extra: Any) -> dict[str, Any]:
    """A small site polled fast, whose health alarms fire within a second of a fault."""
    config = modbus_site(data_dir, devices, ports, poll_interval=POLL, timeout=TIMEOUT,
                         sinks=sinks, commit_interval=0.1, **extra)
    for conn in config["connections"]:
        conn["backoff_max"] = duration(POLL)
        conn["start_jitter"] = "0s"
    config["alarms"]["health"] = {"comm_fail_delay": "500ms", "stale_delay": "1s",
                                  "stale_after_intervals": 3}
    config["log"] = {"level": "info"}
    return config


def write(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(json.dumps(config, indent=1))
    return path


@dataclass
class Daemon:
    """A running ``Service`` plus what the test saw of it."""

    service: Service
    task: asyncio.Task[int]
    accepted: int = 0
    by_quality: dict[str, int] = field(default_factory=dict)
    events: list[Any] = field(default_factory=list)
    registries: list[Any] = field(default_factory=list)
    readings_seen: list[Reading] = field(default_factory=list)
    keep_readings: bool = False

    @property
    def runtime(self) -> Runtime:
        assert self.service.runtime is not None, "no runtime (stopped, or reloading)"
        return self.service.runtime

    def on_readings(self, readings: Sequence[Reading]) -> None:
        self.accepted += len(readings)
        for r in readings:
            self.by_quality[r.quality.value] = self.by_quality.get(r.quality.value, 0) + 1
        if self.keep_readings:
            self.readings_seen.extend(readings)

    def on_events(self, events: Sequence[Any]) -> None:
        self.events.extend(events)

    def scrape(self) -> str:
        """The Prometheus exposition text of the current runtime (what /metrics serves)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registries[-1]).decode()

    def metric(self, name: str, **labels: str) -> float | None:
        """Sum of the samples of ``name`` whose labels include ``labels``; None if absent."""
        total, found = 0.0, False
        for line in self.scrape().splitlines():
            match = _SAMPLE.match(line)
            if not match or match.group(1) != name:
                continue
            have = dict(_LABEL.findall(match.group(2) or ""))
            if all(have.get(k) == v for k, v in labels.items()):
                total += float(match.group(3))
                found = True
        return total if found else None

    def health_alarms(self, *, active: bool = True) -> list[Any]:
        """Health-level alarm events seen (raised ones by default)."""
        out = []
        for e in self.events:
            if str(getattr(e, "level", "")) != "health":
                continue
            if active and str(getattr(e, "kind", "")) != "raised":
                continue
            out.append(e)
        return out

    def storage_health(self) -> list[str]:
        health = self.runtime.extras.get("storage_health")
        return list(health()) if callable(health) else []

    async def stop(self) -> int:
        self.service.request_stop()
        return await asyncio.wait_for(self.task, 30)


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ([-+0-9.eEinfINFNa]+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


async def start_daemon(config: Path, *, keep_readings: bool = False,
                       wait_readings: bool = True) -> Daemon:
    """Start the service; return once it is ready (and, by default, storing readings)."""
    from monitor.metrics.registry import build_registry

    holder: list[Daemon] = []

    def on_runtime(runtime: Runtime) -> None:
        daemon = holder[0]
        runtime.pipeline.reading_listeners.append(daemon.on_readings)
        runtime.pipeline.event_listeners.append(daemon.on_events)
        # a series per alarm point (opt-in in a real config): the tests look points up by key
        daemon.registries.append(build_registry(runtime, alarm_points=True))

    service = Service(config, with_http=False, on_runtime=on_runtime)
    daemon = Daemon(service, asyncio.get_running_loop().create_task(asyncio.sleep(0)),
                    keep_readings=keep_readings)
    holder.append(daemon)
    await daemon.task
    daemon.task = asyncio.create_task(service.run())
    await wait_for(lambda: service.ready.is_set() and (daemon.accepted > 0 or not wait_readings),
                   20, "first readings", task=daemon.task)
    return daemon


async def wait_for(cond: Callable[[], bool], timeout: float, what: str,
                   task: asyncio.Task[Any] | None = None) -> None:
    """Poll ``cond`` until true; fail after ``timeout`` or at once if ``task`` ended."""
    deadline = time.monotonic() + timeout
    while not cond():
        if task is not None and task.done():
            task.result()
            raise AssertionError(f"the service stopped while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_farm(ports: Sequence[int]) -> AsyncIterator[ModbusFarm]:
    farm = ModbusFarm(list(ports))
    await farm.start()
    farm.wave(0.0)
    try:
        yield farm
    finally:
        await farm.stop()


def stored(data_dir: Path) -> int:
    return count_readings(data_dir)


def stored_by_quality(data_dir: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{data_dir / 'readings.db'}?mode=ro", uri=True)
    try:
        return dict(conn.execute("SELECT quality, count(*) FROM readings GROUP BY quality"))
    finally:
        conn.close()


def assert_nothing_lost(daemon: Daemon, data_dir: Path) -> None:
    """Every reading the pipeline accepted is in the store, quality for quality."""
    in_store = stored_by_quality(data_dir)
    assert sum(in_store.values()) == daemon.accepted, (in_store, daemon.by_quality)
    assert in_store == daemon.by_quality


def comm_errors(daemon: Daemon) -> int:
    return daemon.by_quality.get(Quality.COMM_ERROR.value, 0)
