"""``outbox resend`` against a real VictoriaMetrics, which keeps duplicates.

VictoriaMetrics stores a sample twice if it is sent twice (without
``-dedup.minScrapeInterval``), so it shows whether a resend sends anything the
sink already has: every reading must be in it exactly once.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from monitor.audit import iso_utc
from monitor.model import Quality, Reading
from tests.cli.support import Daemon, cli, resend, start_daemon, write_config
from tests.fixtures.victoria import VictoriaServer
from tests.storage.support import readings, recent_base_ns, values_by_time, wait_until

MS = 1_000_000


def _base() -> int:
    return recent_base_ns(120) // 10**9 * 10**9  # whole seconds: windows fall on readings


def _request(db: Path, request_id: int) -> tuple[str, int, int, int]:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT status, sent, rejected, attempts FROM outbox_resend_requests "
                           "WHERE id = ?", (request_id,)).fetchone()
    return row if row else ("missing", 0, 0, 0)


async def test_skipped_readings_are_resent_once_also_across_an_outage(
    tmp_path: Path, victoria: VictoriaServer
) -> None:
    victoria.stop()
    config, loaded = write_config(tmp_path, {
        "name": "vm", "type": "influxdb_v2", "url": victoria.url, "max_pending": 1000})
    db = tmp_path / "data" / "readings.db"
    base = _base()
    daemon: Daemon = start_daemon(loaded)
    try:
        daemon.store.append(readings(0, 1600, base_ns=base))
        await daemon.store.flush()
        await wait_until(lambda: daemon.forwarder.skipped == 600, 20, "600 readings skipped")
        await asyncio.to_thread(victoria.start)
        await wait_until(lambda: daemon.forwarder.outbox_depth == 0, 30, "the outbox to drain")

        listed = await cli("outbox", "list-skipped", "-c", str(config), "--format", "json")
        (skip,) = json.loads(listed.out)
        assert (skip["first_id"], skip["last_id"], skip["count"], skip["to_resend"]) == \
            (1, 600, 600, 600)

        # First the readings of a window (the first 300), while the daemon runs.
        part = await resend(config, "vm", "--skipped", "--from", iso_utc(base),
                            "--to", iso_utc(base + 300 * MS), "--wait", "30")
        assert part.status == 0, part.out + part.err
        assert "300 sent, 0 still rejected" in part.out

        # Then the rest, queued while the server is down: it waits, then goes out.
        await asyncio.to_thread(victoria.stop)
        rest = await resend(config, "vm", "--skipped", "--wait", "0")
        assert rest.status == 0, rest.err
        assert "(300 readings)" in rest.out
        await wait_until(lambda: _request(db, 2)[3] > 0, 20, "a failed resend attempt")
        assert _request(db, 2)[0] == "pending"
        await asyncio.to_thread(victoria.start)
        await wait_until(lambda: _request(db, 2)[0] == "done", 30, "the request to be done")
        assert _request(db, 2)[1:3] == (300, 0)

        again = await resend(config, "vm", "--skipped", "--wait", "5")
        assert again.status == 1
        assert "nothing to re-send" in again.err
    finally:
        await daemon.stop()

    series = victoria.wait_for_samples('{__name__="reading_value"}', 1600)
    by_time = values_by_time(series)
    assert sorted(v for values in by_time.values() for v in values) == [
        float(i) for i in range(1600)], "every reading exactly once"
    assert all(len(values) == 1 for values in by_time.values())


async def test_a_quarantined_point_arrives_once_after_the_server_is_fixed(
    tmp_path: Path, victoria: VictoriaServer
) -> None:
    victoria.stop()
    victoria.extra_args = ["-influx.maxLineSize=1000"]  # the "misconfiguration"
    await asyncio.to_thread(victoria.start)
    config, loaded = write_config(tmp_path, {"name": "vm", "type": "influxdb_v2",
                                             "url": victoria.url})
    base = _base()
    daemon = start_daemon(loaded)
    try:
        daemon.store.append(readings(0, 100, base_ns=base))
        await daemon.store.flush()
        await wait_until(lambda: daemon.forwarder.outbox_depth == 0, 20, "the first readings")
        long_detail = "device reported: " + "x" * 1500
        daemon.store.append([Reading("dev0/ch", 100.0, Quality.DEVICE_FAULT, base + 100 * MS,
                                     detail=long_detail)])
        await daemon.store.flush()
        await wait_until(lambda: daemon.forwarder.quarantined == 1, 20, "the point quarantined")
        daemon.store.append(readings(101, 99, base_ns=base))
        await daemon.store.flush()
        await wait_until(lambda: daemon.forwarder.outbox_depth == 0, 20, "the rest")

        listed = await cli("outbox", "list-quarantined", "-c", str(config), "--format", "json")
        (point,) = json.loads(listed.out)
        assert point["reading_id"] == 101
        assert point["status"] == 400
        assert "too long line" in point["message"]

        await asyncio.to_thread(victoria.stop)  # the fix: the default line size limit
        victoria.extra_args = []
        await asyncio.to_thread(victoria.start)
        fixed = await resend(config, "vm", "--quarantined", "--ids", "101", "--wait", "30",
                             reason="influx.maxLineSize back to its default")
        assert fixed.status == 0, fixed.out + fixed.err
        assert "1 sent, 0 still rejected" in fixed.out
    finally:
        await daemon.stop()
    series = victoria.wait_for_samples('{__name__="reading_value"}', 200)
    by_time = values_by_time(series)
    assert sorted(v for values in by_time.values() for v in values) == [
        float(i) for i in range(200)]
    assert all(len(values) == 1 for values in by_time.values())
