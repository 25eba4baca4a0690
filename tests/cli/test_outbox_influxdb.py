"""``outbox resend`` against a real InfluxDB 1.x while the sink's forwarder runs.

The server refuses three points (a field type conflict), they are
quarantined, an engineer fixes the cause on the server and re-sends them from
another process: exactly those three arrive, once, and the request is
audited with the user and the reason.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from monitor.audit import AuditTrail
from monitor.model import Reading
from tests.cli.support import cli, resend, start_daemon, write_config
from tests.fixtures.influxdb import InfluxServer
from tests.storage.support import readings, recent_base_ns, wait_until

BAD = {5, 50, 120}


async def test_quarantined_points_are_resent_once_after_the_fix(
    tmp_path: Path, influxdb: InfluxServer
) -> None:
    base = recent_base_ns(60)
    # 'device_ts' becomes a string field: our integer device_ts conflicts with it.
    _write(influxdb, f'reading,channel=x device_ts="x" {base - 10**9}')
    config, loaded = write_config(tmp_path, {
        "name": "influx1", "type": "influxdb_v1", "url": influxdb.url,
        "database": influxdb.database, "username": influxdb.username,
        "password": influxdb.password,
    })
    items = [
        Reading(r.channel, r.value, r.quality, r.ts_ns, r.raw,
                device_ts_ns=r.ts_ns - 5 if i in BAD else None)
        for i, r in enumerate(readings(0, 200, base_ns=base))
    ]
    daemon = start_daemon(loaded)
    try:
        daemon.store.append(items)
        await daemon.store.flush()
        await wait_until(lambda: daemon.forwarder.outbox_depth == 0 and
                         daemon.forwarder.quarantined == 3, 30, "three points quarantined")

        listed = await cli("outbox", "list-quarantined", "-c", str(config), "--format", "json")
        assert listed.status == 0, listed.err
        points = json.loads(listed.out)
        assert sorted(p["reading_id"] for p in points) == [i + 1 for i in sorted(BAD)]
        assert all(p["status"] == 400 and "conflict" in p["message"] for p in points)

        # Before the fix the server still refuses them: the request says so.
        first = await resend(config, "influx1", "--quarantined", "--ids", "6", "--wait", "20")
        assert first.status == 1, first.out + first.err
        assert "request 1 failed: 0 sent, 1 still rejected" in first.out
        assert "conflict" in first.out
        assert daemon.forwarder.quarantined == 3  # still refused: still quarantined

        # The fix: the conflicting field type goes with the measurement.
        influxdb.query('DROP MEASUREMENT "reading"', db=influxdb.database)
        fixed = await resend(config, "influx1", "--quarantined", "--wait", "20",
                             reason="field type conflict removed (DEV-1)")
        assert fixed.status == 0, fixed.out + fixed.err
        assert "request 2 done: 3 sent, 0 still rejected" in fixed.out
        await wait_until(lambda: daemon.forwarder.quarantined == 0, 5, "the gauge to drop")
        assert not any("quarantined" in p for p in daemon.forwarder.health())

        again = await resend(config, "influx1", "--quarantined", "--wait", "5")
        assert again.status == 1
        assert "nothing to re-send" in again.err

        status = await cli("outbox", "status", "-c", str(config), "--format", "json")
        (row,) = json.loads(status.out)
        assert row["waiting"] == 0
        assert row["quarantined"] == 0
        assert row["quarantined_resent"] == 3
        assert row["requests_pending"] == 0
    finally:
        await daemon.stop()

    # Only the quarantined readings were sent again (the measurement was emptied by the fix),
    # each once, with the values and device times of the local history.
    rows = influxdb.values('SELECT "value", "device_ts" FROM "reading"')
    assert sorted((r[1], r[2]) for r in rows) == sorted(
        (float(i), items[i].ts_ns - 5) for i in BAD)
    with sqlite3.connect(tmp_path / "data" / "readings.db") as conn:
        requests = conn.execute("SELECT requested_by, reason, status, sent, rejected "
                                "FROM outbox_resend_requests ORDER BY id").fetchall()
    assert requests == [("eng1", "cause fixed", "failed", 0, 1),
                        ("eng1", "field type conflict removed (DEV-1)", "done", 3, 0)]
    with AuditTrail(tmp_path / "data") as trail:
        entries = [e for e in trail.entries() if e.action == "outbox.resend_requested"]
        assert [(e.user, e.object, e.reason) for e in entries] == [
            ("eng1", "sink:influx1", "cause fixed"),
            ("eng1", "sink:influx1", "field type conflict removed (DEV-1)")]
        assert entries[1].new_value["selected"] == 3
        ends = [e for e in trail.entries() if e.action in (
            "outbox.resend_failed", "outbox.resend_completed")]
        assert trail.verify() is None
    # The daemon audits how each ended: the first with the point still refused.
    assert [(e.action, e.user, e.object, e.reason) for e in ends] == [
        ("outbox.resend_failed", "system", "sink:influx1", "cause fixed"),
        ("outbox.resend_completed", "system", "sink:influx1",
         "field type conflict removed (DEV-1)")]
    assert {k: ends[0].new_value[k] for k in ("id", "status", "selected", "sent", "rejected")} \
        == {"id": 1, "status": "failed", "selected": 1, "sent": 0, "rejected": 1}
    assert "conflict" in ends[0].new_value["last_error"]
    assert {k: ends[1].new_value[k] for k in ("id", "status", "selected", "sent", "rejected")} \
        == {"id": 2, "status": "done", "selected": 3, "sent": 3, "rejected": 0}


async def test_resend_needs_the_configure_permission_and_known_ids(
    tmp_path: Path, influxdb: InfluxServer
) -> None:
    config, loaded = write_config(tmp_path, {
        "name": "influx1", "type": "influxdb_v1", "url": influxdb.url,
        "database": influxdb.database, "username": influxdb.username,
        "password": influxdb.password,
    })
    base = recent_base_ns(60)
    _write(influxdb, f'reading,channel=x device_ts="x" {base - 10**9}')
    daemon = start_daemon(loaded)
    try:
        r = readings(0, 10, base_ns=base)[0]
        daemon.store.append([Reading(r.channel, 1.0, r.quality, r.ts_ns, device_ts_ns=r.ts_ns)])
        await daemon.store.flush()
        await wait_until(lambda: daemon.forwarder.quarantined == 1, 30, "a quarantined point")
        operator = await resend(config, "influx1", "--quarantined", user="op1")
        assert operator.status == 1
        assert "may not configure" in operator.err
        wrong = await resend(config, "influx1", "--quarantined", password="not-the-password")
        assert wrong.status == 1
        unknown = await resend(config, "influx1", "--quarantined", "--ids", "1,99")
        assert unknown.status == 1
        assert "reading id(s) 99" in unknown.err
        sink = await resend(config, "nosuch", "--quarantined")
        assert sink.status == 1
        assert "no sink 'nosuch'" in sink.err
        dry = await resend(config, "influx1", "--quarantined", "--dry-run")
        assert dry.status == 0
        assert "1 quarantined reading(s)" in dry.err
    finally:
        await daemon.stop()
    with sqlite3.connect(tmp_path / "data" / "readings.db") as conn:
        assert conn.execute("SELECT count(*) FROM outbox_resend_requests").fetchone() == (0,)
    with AuditTrail(tmp_path / "data") as trail:
        actions = [e.action for e in trail.entries()]
    assert "outbox.resend_requested" not in actions
    assert "user.login_failed" in actions


def _write(influxdb: InfluxServer, line: str) -> None:
    import base64
    import urllib.request

    request = urllib.request.Request(
        f"{influxdb.url}/write?db={influxdb.database}&precision=ns", data=line.encode(),
        method="POST")
    token = base64.b64encode(f"{influxdb.username}:{influxdb.password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 204
