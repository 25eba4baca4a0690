"""10,000 readings reach InfluxDB exactly once although the server is down for part of the run.

Real servers: VictoriaMetrics for the v2 write API, influxd 1.6 for the v1 API.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitor.storage.embedded import EmbeddedStore
from tests.fixtures.influxdb import InfluxServer
from tests.fixtures.victoria import VictoriaServer
from tests.storage.support import (
    add_forwarder,
    readings,
    recent_base_ns,
    v1_sink,
    v2_sink,
    values_by_time,
    wait_until,
)

TOTAL = 10_000
CHUNK = 250


async def _write_with_outage(store: EmbeddedStore, stop: object, start: object) -> None:
    """Write TOTAL readings in chunks; the server is down from 30% to 70% of them."""
    base = recent_base_ns(60)
    for first in range(0, TOTAL, CHUNK):
        if first == int(TOTAL * 0.3):
            await asyncio.to_thread(stop)  # type: ignore[arg-type]
        if first == int(TOTAL * 0.7):
            await asyncio.to_thread(start)  # type: ignore[arg-type]
        store.append(readings(first, CHUNK, base_ns=base))
        await asyncio.sleep(0.02)


async def test_v2_sink_delivers_every_reading_once_across_an_outage(
    tmp_path: Path, victoria: VictoriaServer
) -> None:
    store = EmbeddedStore(tmp_path / "readings.db", {}, commit_interval=0.05)
    forwarder = add_forwarder(store, v2_sink(victoria.url))
    task = asyncio.create_task(store.run())
    try:
        await _write_with_outage(store, victoria.stop, victoria.start)
        await store.flush()
        await wait_until(lambda: forwarder.outbox_depth == 0, 60, "the outbox to drain")
    finally:
        await store.close()
        task.cancel()
    assert forwarder.send_errors > 0, "the outage was not noticed"
    assert forwarder.catch_ups >= 1, "the backlog was not sent in catch-up mode"
    series = victoria.wait_for_samples('{__name__="reading_value"}', TOTAL)
    by_time = values_by_time(series)
    assert len(by_time) == TOTAL
    assert sorted(v[0] for v in by_time.values()) == [float(i) for i in range(TOTAL)]
    assert forwarder.sent == TOTAL
    # Stopping the server can cut the request in flight after VictoriaMetrics stored it and
    # before its answer came ("connection reset by peer"): its outcome unknown, the sink
    # sends that batch again (InfluxDB overwrites an identical point; VictoriaMetrics keeps
    # both). Only that one batch may repeat, once: nothing else is ever sent twice.
    repeated = sorted(v[0] for v in by_time.values() if len(v) != 1)
    assert all(len(v) <= 2 and len(set(v)) == 1 for v in by_time.values())
    if repeated:
        assert repeated[-1] - repeated[0] < forwarder.settings.batch_size, repeated


async def test_v1_sink_delivers_every_reading_once_across_an_outage(
    tmp_path: Path, influxdb: InfluxServer
) -> None:
    store = EmbeddedStore(tmp_path / "readings.db", {}, commit_interval=0.05)
    forwarder = add_forwarder(store, v1_sink(influxdb))
    task = asyncio.create_task(store.run())
    try:
        await _write_with_outage(store, influxdb.stop, influxdb.start)
        await store.flush()
        await wait_until(lambda: forwarder.outbox_depth == 0, 60, "the outbox to drain")
    finally:
        await store.close()
        task.cancel()
    assert forwarder.send_errors > 0, "the outage was not noticed"
    count = influxdb.values('SELECT count("value") FROM "reading"')
    assert count[0][1] == TOTAL
    rows = influxdb.values('SELECT "value", "quality" FROM "reading"')
    assert sorted(r[1] for r in rows) == [float(i) for i in range(TOTAL)]
    assert {r[2] for r in rows} == {"good"}
    assert forwarder.sent == TOTAL
