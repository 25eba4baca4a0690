"""Health alarms for the daemon's own parts, with the real parts failing and recovering.

The daemon (a real ``Service`` polling a Modbus farm, ``tests.faults.harness``)
stores into a readings database on an 8 MB tmpfs, forwards to a real
VictoriaMetrics that is stopped at first, and notifies a webhook on a port
where nothing listens yet. While each fault lasts, its health alarm must be
raised (and listed, and exported as a metric); when the fault is removed it
must clear. Then the tmpfs is filled: the disk alarm and the free-space alarm
follow, and clear once space is freed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.common import free_ports
from monitor.errors import StoreError
from monitor.model import Quality, Reading, utc_now_ns
from monitor.runtime import build_runtime
from tests.faults.harness import (
    Daemon,
    assert_nothing_lost,
    fault_site,
    running_farm,
    start_daemon,
    wait_for,
    write,
)
from tests.faults.test_disk_full import fill, small_disk
from tests.fixtures.influxdb import InfluxServer
from tests.fixtures.victoria import VictoriaServer
from tests.storage.support import wait_until
from tests.storage.test_outbox import _write_line

from .site import site

SINK_DOWN, OUTBOX = "sink:vm:down", "sink:vm:outbox"
HOOK = "notifier:hook:failing"
DISK, SPACE = "store:embedded:disk", "store:embedded:space"
S = 1_000_000_000


def raised(daemon: Daemon, point: str) -> list[Any]:
    return [e for e in daemon.events if e.point == point and str(e.kind) == "raised"]


def cleared(daemon: Daemon, point: str) -> list[Any]:
    return [e for e in daemon.events if e.point == point and str(e.kind) == "cleared"]


async def until(daemon: Daemon, what: str, check: Any, timeout: float = 15.0) -> None:
    await wait_for(check, timeout, what, task=daemon.task)


@contextlib.asynccontextmanager
async def webhook_on(port: int) -> AsyncIterator[list[bytes]]:
    """A webhook receiver answering 200, on a given port."""
    bodies: list[bytes] = []

    async def handle(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield bodies
    finally:
        await runner.cleanup()


async def test_storage_sink_and_notifier_faults_raise_health_alarms_while_they_last(
        tmp_path: Path, victoria: VictoriaServer) -> None:
    farm_port, hook_port = free_ports(2)
    await asyncio.to_thread(victoria.stop)  # the sink's server is down from the start
    with small_disk(tmp_path / "data") as data_dir:
        config = fault_site(data_dir, [farm_port], sinks=[{
            "name": "vm", "type": "influxdb_v2", "url": victoria.url, "batch_size": 500,
            "flush_interval": "100ms", "retry_initial": "50ms", "retry_max": "300ms",
            "timeout": "1s", "max_pending": 1000, "warn_ratio": 0.2}],
            extra={"notify": {
                "notifiers": [{"name": "hook", "kind": "webhook",
                               "url": f"http://127.0.0.1:{hook_port}/hook"}],
                "retry": {"initial": "100ms", "max": "300ms", "max_attempts": 3,
                          "timeout": "1s"}}})
        config["alarms"]["system"] = {"check_interval": "200ms", "delay": "1s",
                                      "sink_down_after": "1s", "notifier_failing_after": "1s",
                                      "min_free_ratio": 0.05}
        async with running_farm([farm_port]):
            daemon = await start_daemon(write(tmp_path / "site.yaml", config))
            try:
                # the sink cannot write, its outbox fills, the alarms cannot be delivered
                await until(daemon, "sink, outbox and notifier alarms", lambda: all(
                    raised(daemon, p) for p in (SINK_DOWN, OUTBOX, HOOK)))
                (down,) = raised(daemon, SINK_DOWN)
                assert (str(down.level), down.location, down.channel) == ("health", "", "sink:vm")
                assert "cannot write" in down.details["detail"]
                assert down.details["start_ns"] <= down.ts_ns - 1_000_000_000
                (outbox,) = raised(daemon, OUTBOX)
                assert outbox.limit == 200.0
                assert outbox.value is not None
                assert outbox.value >= 200
                assert "deliveries failing" in raised(daemon, HOOK)[0].details["detail"]
                active = {v.point for v in daemon.runtime.alarms.active()}
                assert {SINK_DOWN, OUTBOX, HOOK} <= active
                assert daemon.metric("cleanroom_alarm_active", point=SINK_DOWN) == 1
                assert not raised(daemon, DISK)

                # the server and the receiver come back: the alarms clear
                await asyncio.to_thread(victoria.start)
                async with webhook_on(hook_port) as bodies:
                    await until(daemon, "sink, outbox and notifier alarms to clear", lambda: all(
                        cleared(daemon, p) for p in (SINK_DOWN, OUTBOX, HOOK)), 30.0)
                    assert bodies, "nothing delivered to the webhook"
                    assert daemon.metric("cleanroom_alarm_active", point=SINK_DOWN) == 0

                    # the disk fills up: the store's alarms, then space is freed
                    filler = await asyncio.to_thread(fill, data_dir)
                    await until(daemon, "disk alarms", lambda: bool(
                        raised(daemon, DISK) and raised(daemon, SPACE)))
                    (disk,) = raised(daemon, DISK)
                    assert "disk full" in disk.details["detail"]
                    filler.unlink()
                    await until(daemon, "disk alarm to clear", lambda: bool(
                        cleared(daemon, DISK) and cleared(daemon, SPACE)))
            finally:
                assert await daemon.stop() == 0
        assert_nothing_lost(daemon, data_dir)


async def test_lost_skipped_and_quarantined_data_and_an_unwritable_alarm_log_raise_alarms(
        tmp_path: Path, influxdb: InfluxServer) -> None:
    """Count conditions: raised at the check that sees the counter grow, cleared at the next
    (waiting for acknowledgement); the real store, sink and alarm log fail."""
    loaded = site(tmp_path, alarms={
        "health": {"enabled": False},
        "system": {"check_interval": "1h", "delay": "1s", "sink_down_after": "1s"}},
        storage={"embedded": {"memory_limit": 10_000, "commit_interval": "50ms"},
                 "sinks": [{"name": "influx", "type": "influxdb_v1", "url": influxdb.url,
                            "database": influxdb.database, "username": influxdb.username,
                            "password": influxdb.password, "batch_size": 1000,
                            "flush_interval": "50ms", "retry_initial": "50ms",
                            "retry_max": "200ms", "timeout": "2s", "max_pending": 1000}]})
    runtime = build_runtime(loaded, with_http=False)
    watch, alarms = runtime.extras["system_watch"], runtime.alarms
    (store,) = runtime.stores
    (forwarder,) = store.forwarders
    task = asyncio.create_task(store.run())
    t0 = utc_now_ns()

    def check(seconds: float) -> dict[str, str]:
        return {e.point: str(e.kind) for e in watch.check(t0 + int(seconds * S))}

    try:
        # a point InfluxDB refuses (a field type conflict) is quarantined
        _write_line(influxdb, f'reading,channel=x device_ts="x" {t0 - S}')
        store.append([Reading("x/a", float(i), Quality.GOOD, t0 + i,
                              device_ts_ns=t0 if i == 7 else None) for i in range(50)])
        await wait_until(lambda: forwarder.quarantined == 1 and forwarder.outbox_depth == 0, 30,
                         "the bad point to be quarantined")
        assert check(1) == {"sink:influx:quarantine": "raised"}
        assert check(2) == {"sink:influx:quarantine": "cleared"}
        assert alarms.engine.t.points["sink:influx:quarantine"].state == "rtn_unack"

        # the server goes away: the outbox passes its bound and the oldest are skipped
        await asyncio.to_thread(influxdb.stop)
        store.append([Reading("x/a", float(i), Quality.GOOD, t0 + S + i) for i in range(1500)])
        await wait_until(lambda: forwarder.skipped > 0 and not forwarder.available, 30,
                         "readings skipped at the bound, and the sink failing")
        # failing since before the last report that it was not: the delay runs from that report
        assert check(3) == {"sink:influx:skipped": "raised", "sink:influx:down": "raised"}
        assert check(5) == {"sink:influx:skipped": "cleared", "sink:influx:outbox": "raised"}

        # the disk refuses commits (SQLite's own SQLITE_FULL): held, then dropped at the bound
        store._conn.execute(f"PRAGMA max_page_count = "
                            f"{store._conn.execute('PRAGMA page_count').fetchone()[0]}")
        store.append([Reading("x/b", 1.0, Quality.GOOD, t0 + 2 * S + i) for i in range(12_000)])
        await wait_until(lambda: store.disk_problem is not None, 10, "the disk fault")
        assert store.dropped == 2000
        got = check(6)
        assert got == {"store:embedded:lost": "raised"}
        assert check(8) == {"store:embedded:lost": "cleared", "store:embedded:disk": "raised",
                            "store:embedded:memory": "raised"}

        # the alarm log refuses its events (SQLite refuses every write): they are kept, and
        # that is an alarm
        log_conn = alarms.log._conn
        log_conn.execute("PRAGMA query_only = 1")
        alarms.acknowledge("store:embedded:lost", "ann", "seen", None)
        assert alarms.write_problem is not None
        assert check(9) == {}
        assert check(11) == {"store:alarm_log:write": "raised"}
        log_conn.execute("PRAGMA query_only = 0")
        alarms.tick(t0 + 12 * S)  # writes what was kept
        assert check(13) == {"store:alarm_log:write": "cleared"}
        kinds = [(e.point, str(e.kind)) for e in alarms.events()]
        assert ("store:alarm_log:write", "raised") in kinds  # written once space was back
        assert ("store:embedded:lost", "acknowledged") in kinds

        # space is back: what was held is committed, and the store's alarms clear; the 10,000
        # committed readings pass the stopped sink's bound (1,000), so it skips again
        skipped_before = forwarder.skipped
        store._conn.execute("PRAGMA max_page_count = 1073741823")
        await wait_until(lambda: store.disk_problem is None and store.pending == 0, 15,
                         "the held readings to be committed")
        await wait_until(lambda: forwarder.skipped > skipped_before
                         and forwarder.outbox_depth <= forwarder.max_pending, 15,
                         "the sink to skip the committed readings past its bound")
        assert check(14) == {"store:embedded:disk": "cleared", "store:embedded:memory": "cleared",
                             "sink:influx:skipped": "raised"}
    finally:
        alarms.close()
        with contextlib.suppress(StoreError):  # a failed test may leave the disk "full"
            await store.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
