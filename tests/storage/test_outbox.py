"""The outbox against real servers: SIGKILL, quarantine of bad points, the size bound,
and live readings during a catch-up."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from pathlib import Path

from monitor.model import Quality, Reading
from monitor.storage.embedded import EmbeddedStore
from tests.fixtures.influxdb import InfluxServer
from tests.fixtures.ports import free_port
from tests.fixtures.victoria import VictoriaServer
from tests.storage.support import (
    add_forwarder,
    count_rows,
    readings,
    recent_base_ns,
    v1_sink,
    v2_sink,
    values_by_time,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]


async def test_sigkill_while_writing_loses_nothing_that_was_committed(
    tmp_path: Path, influxdb: InfluxServer
) -> None:
    db = tmp_path / "readings.db"
    base = recent_base_ns(120)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.storage.kill_child", str(db), influxdb.url,
        influxdb.username, influxdb.password, str(base),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    acked = sent = 0
    try:
        assert child.stdout is not None
        # mid-write, with readings committed and not yet sent (else the kill tests no resend;
        # the sink sends 300 a request, so 600 unsent cannot all go in the moment to the kill)
        while acked < 8000 or acked - sent < 600:
            line = await asyncio.wait_for(child.stdout.readline(), 30)
            if not line:
                errors = await child.stderr.read() if child.stderr else b""
                raise AssertionError(f"writer died: {errors.decode()}")
            _, acked_text, _, sent_text = line.split()
            acked, sent = int(acked_text), int(sent_text)
            assert acked < 400_000, "the sink kept up with every commit: no moment to kill"
        child.send_signal(signal.SIGKILL)
    finally:
        if child.returncode is None:
            child.kill()
        await child.wait()
    sent_before = influxdb.values('SELECT count("value") FROM "reading"')
    assert sent_before, "the writer had not sent anything yet"
    assert sent_before[0][1] < count_rows(db), "the kill came after everything was sent"

    store = EmbeddedStore(db, {}, commit_interval=0.05)  # the restart
    committed = count_rows(db)
    assert committed >= acked
    forwarder = add_forwarder(store, v1_sink(influxdb))
    task = asyncio.create_task(store.run())
    try:
        await wait_until(lambda: forwarder.outbox_depth == 0, 60, "the outbox to drain")
    finally:
        await store.close()
        task.cancel()
    values = sorted(r[1] for r in influxdb.values('SELECT "value" FROM "reading"'))
    assert values == [float(i) for i in range(committed)]  # every committed reading, once
    with sqlite3.connect(db) as conn:
        causes = [r[0] for r in conn.execute("SELECT cause FROM gaps WHERE scope = 'daemon'")]
    assert causes in ([], ["daemon_crashed"])  # a gap only if the restart took >= 30 s


async def test_points_the_server_rejects_are_quarantined_and_the_queue_moves_on(
    tmp_path: Path, influxdb: InfluxServer
) -> None:
    # Make 'device_ts' a string field, so that our integer device_ts conflicts: only the
    # readings that carry a device timestamp are bad points.
    base = recent_base_ns(60)
    _write_line(influxdb, f'reading,channel=x device_ts="x" {base - 10**9}')
    store = EmbeddedStore(tmp_path / "readings.db", {}, commit_interval=0.05)
    forwarder = add_forwarder(store, v1_sink(influxdb, batch_size=1000))
    items = readings(0, 400, base_ns=base)
    bad = {37, 200, 399}
    items = [
        Reading(r.channel, r.value, r.quality, r.ts_ns, r.raw,
                device_ts_ns=r.ts_ns - 5 if i in bad else None)
        for i, r in enumerate(items)
    ]
    task = asyncio.create_task(store.run())
    try:
        store.append(items)
        await store.flush()
        await wait_until(lambda: forwarder.outbox_depth == 0, 30, "the outbox to drain")
    finally:
        await store.close()
        task.cancel()
    rows = influxdb.values('SELECT "value" FROM "reading" WHERE "value" >= 0')
    values = sorted(r[1] for r in rows)
    assert values == [float(i) for i in range(400) if i not in bad]
    assert forwarder.quarantined == 3
    with sqlite3.connect(tmp_path / "readings.db") as conn:
        rows = conn.execute("SELECT reading_id, status, message, line FROM quarantine").fetchall()
    assert sorted(r[0] for r in rows) == [i + 1 for i in sorted(bad)]
    assert all(r[1] == 400 and "conflict" in r[2] for r in rows)
    assert all(r[3].startswith("reading,") and "device_ts=" in r[3] for r in rows)


def _write_line(influxdb: InfluxServer, line: str) -> None:
    import base64
    import urllib.request

    request = urllib.request.Request(
        f"{influxdb.url}/write?db={influxdb.database}&precision=ns", data=line.encode(),
        method="POST",
    )
    token = base64.b64encode(f"{influxdb.username}:{influxdb.password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 204


async def test_outbox_bound_warns_early_then_skips_the_oldest_and_records_it(
    tmp_path: Path, victoria: VictoriaServer
) -> None:
    victoria.stop()
    path = tmp_path / "readings.db"
    store = EmbeddedStore(path, {}, commit_interval=0.05)
    forwarder = add_forwarder(
        store, v2_sink(victoria.url, warn_ratio=0.5, max_pending=1000), max_pending=1000
    )
    base = recent_base_ns(60)
    task = asyncio.create_task(store.run())
    try:
        store.append(readings(0, 600, base_ns=base))
        await store.flush()
        await wait_until(lambda: forwarder.send_errors > 0, 10, "a failed send")
        assert forwarder.skipped == 0
        assert any("60% of its bound" in p for p in forwarder.health()), forwarder.health()
        store.append(readings(600, 1000, base_ns=base))
        await store.flush()
        await wait_until(lambda: forwarder.skipped == 600, 10, "the bound to be applied")
        assert forwarder.outbox_depth == 1000
        await asyncio.to_thread(victoria.start)
        await wait_until(lambda: forwarder.outbox_depth == 0, 30, "the outbox to drain")
    finally:
        await store.close()
        task.cancel()
    assert count_rows(path) == 1600, "skipped readings stay in the local history"
    with sqlite3.connect(path) as conn:
        skips = conn.execute("SELECT first_id, last_id, count, reason FROM sink_skips").fetchall()
    assert [s[:3] for s in skips] == [(1, 600, 600)]
    assert "bound 1000" in skips[0][3]
    series = victoria.wait_for_samples('{__name__="reading_value"}', 1000)
    assert sorted(v[0] for v in values_by_time(series).values()) == [
        float(i) for i in range(600, 1600)
    ]


async def test_live_readings_are_sent_while_a_backlog_is_caught_up(
    tmp_path: Path, victoria: VictoriaServer
) -> None:
    victoria.stop()
    path = tmp_path / "readings.db"
    store = EmbeddedStore(path, {}, commit_interval=0.02)
    forwarder = add_forwarder(store, v2_sink(victoria.url, backfill_batch_size=1000))
    base = recent_base_ns(600)
    store.append(readings(0, 100_000, base_ns=base, step_ns=2_000_000))  # the outage backlog
    await store.flush()
    task = asyncio.create_task(store.run())
    try:
        await asyncio.to_thread(victoria.start)
        await wait_until(lambda: forwarder.backfilling, 10, "catch-up mode")
        store.append([Reading("live/ch", 1.0, Quality.GOOD, base + 10**9 * 500)])
        await store.flush()
        live_id = store.last_committed_id
        await wait_until(lambda: forwarder.is_done(live_id), 5, "the live reading to be sent")
        # acknowledged while the older backlog is still being sent
        assert forwarder.backfilling
        assert forwarder.cursor < 100_000
        await wait_until(lambda: forwarder.outbox_depth == 0, 60, "the outbox to drain")
        assert not forwarder.backfilling
    finally:
        await store.close()
        task.cancel()
    assert forwarder.sent == 100_001


async def test_a_sink_that_is_down_does_not_hold_back_another(
    tmp_path: Path, victoria: VictoriaServer
) -> None:
    store = EmbeddedStore(tmp_path / "readings.db", {}, commit_interval=0.02)
    up = add_forwarder(store, v2_sink(victoria.url, name="up"))
    down = add_forwarder(store, v2_sink(f"http://127.0.0.1:{free_port()}", name="down"))
    task = asyncio.create_task(store.run())
    try:
        store.append(readings(0, 3000, base_ns=recent_base_ns(60)))
        await store.flush()
        await wait_until(lambda: up.outbox_depth == 0, 20, "the healthy sink to drain")
        assert down.outbox_depth == 3000
        assert not down.available
        assert down.cursor == 0
        assert up.cursor == 3000
    finally:
        await store.close()
        task.cancel()
