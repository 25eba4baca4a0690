"""Helpers shared by the storage tests: stores, sinks and readings without a full config."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from monitor.config.storage import InfluxV1Sink, InfluxV2Sink
from monitor.model import Quality, Reading, utc_now_ns
from monitor.storage.embedded import EmbeddedStore
from monitor.storage.factory import build_transport
from monitor.storage.forwarder import Forwarder

FAST = {
    "batch_size": 500,
    "flush_interval": "100ms",
    "backfill_batch_size": 2000,
    "retry_initial": "50ms",
    "retry_max": "400ms",
    "timeout": "2s",
}


def v2_sink(url: str, name: str = "vm", **overrides: Any) -> InfluxV2Sink:
    return InfluxV2Sink.model_validate(
        {"name": name, "type": "influxdb_v2", "url": url, **FAST, **overrides}
    )


def v1_sink(server: Any, name: str = "influx1", **overrides: Any) -> InfluxV1Sink:
    return InfluxV1Sink.model_validate(
        {
            "name": name, "type": "influxdb_v1", "url": server.url,
            "database": server.database, "username": server.username,
            "password": server.password, **FAST, **overrides,
        }
    )


def add_forwarder(
    store: EmbeddedStore, sink: InfluxV1Sink | InfluxV2Sink, **attrs: Any
) -> Forwarder:
    forwarder = Forwarder(store, build_transport(sink), sink)
    for key, value in attrs.items():
        setattr(forwarder, key, value)
    store.forwarders.append(forwarder)
    return forwarder


def readings(
    start: int, count: int, *, base_ns: int, channels: int = 20, step_ns: int = 1_000_000
) -> list[Reading]:
    """Readings ``start..start+count``; reading i is channel i % channels at base + i*step."""
    return [
        Reading(
            f"dev{i % channels}/ch", float(i), Quality.GOOD, base_ns + i * step_ns, raw=float(i)
        )
        for i in range(start, start + count)
    ]


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


def count_rows(path: Path, table: str = "readings", where: str = "1") -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0])


def recent_base_ns(span_s: float = 60.0) -> int:
    """A start time recent enough for every server's retention, leaving ``span_s`` to now."""
    return utc_now_ns() - int(span_s * 1e9)


def values_by_time(series: Sequence[dict[str, Any]]) -> dict[tuple[str, int], list[float]]:
    """VictoriaMetrics export -> {(channel, ms): [values]} to spot duplicates."""
    out: dict[tuple[str, int], list[float]] = {}
    for s in series:
        for ts, value in zip(s["timestamps"], s["values"], strict=True):
            out.setdefault((s["metric"]["channel"], ts), []).append(value)
    return out
