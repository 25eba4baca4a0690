"""Every reading's quality reaches both servers, VictoriaMetrics included.

VictoriaMetrics keeps numeric fields only: without ``quality_code`` a comm
error or an invalid value would arrive there looking like any other point.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitor.model import Quality, Reading
from monitor.storage.embedded import EmbeddedStore
from monitor.storage.lineproto import QUALITY_CODES
from tests.fixtures.influxdb import InfluxServer
from tests.fixtures.victoria import VictoriaServer
from tests.storage.support import add_forwarder, recent_base_ns, v1_sink, v2_sink, wait_until


def test_every_quality_has_a_code_and_codes_are_unique() -> None:
    assert set(QUALITY_CODES) == {q.value for q in Quality}
    assert len(set(QUALITY_CODES.values())) == len(QUALITY_CODES)
    assert QUALITY_CODES[Quality.GOOD.value] == 0


def _one_per_quality(base_ns: int) -> list[Reading]:
    return [
        Reading(f"dev/{q.value}", None if q is Quality.COMM_ERROR else 1.5, q,
                base_ns + i * 1_000_000_000, detail=None if q is Quality.GOOD else "test")
        for i, q in enumerate(Quality)
    ]


async def _store_and_send(tmp_path: Path, sink: object) -> None:
    store = EmbeddedStore(tmp_path / "readings.db", {}, commit_interval=0.02)
    forwarder = add_forwarder(store, sink)  # type: ignore[arg-type]
    store.append(_one_per_quality(recent_base_ns(60)))
    await store.flush()
    task = asyncio.create_task(store.run())
    try:
        await wait_until(lambda: forwarder.outbox_depth == 0, 30, "the outbox to drain")
    finally:
        await store.close()
        task.cancel()


async def test_victoria_metrics_keeps_each_readings_quality_as_a_number(
    tmp_path: Path, victoria: VictoriaServer
) -> None:
    await _store_and_send(tmp_path, v2_sink(victoria.url))
    series = victoria.wait_for_samples('{__name__="reading_quality_code"}', len(Quality))
    got = {s["metric"]["channel"]: s["values"] for s in series}
    assert got == {f"dev/{q.value}": [float(QUALITY_CODES[q.value])] for q in Quality}


async def test_influxdb_keeps_the_quality_text_and_its_code(
    tmp_path: Path, influxdb: InfluxServer
) -> None:
    await _store_and_send(tmp_path, v1_sink(influxdb))
    rows = influxdb.values('SELECT "quality", "quality_code", "channel" FROM "reading"')
    assert sorted((r[1], r[2]) for r in rows) == sorted(
        (q.value, QUALITY_CODES[q.value]) for q in Quality
    )
