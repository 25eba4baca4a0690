"""InfluxDB stopped and restarted, and InfluxDB answering slowly, while the daemon polls.

Readings keep being committed locally whatever InfluxDB does; the sink's
outbox grows while it cannot send, which shows as ``cleanroom_outbox_sink_up
0``, a growing ``cleanroom_outbox_pending_readings`` and a storage health
problem; when InfluxDB is back the outbox drains and InfluxDB holds exactly
what the local store holds.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from bench.common import free_ports
from bench.store_count import count_readings
from tests.faults.harness import (
    Daemon,
    assert_nothing_lost,
    fault_site,
    running_farm,
    start_daemon,
    wait_for,
    write,
)
from tests.faults.proxy import DelayProxy

PASSWORD_ENV = "FAULT_TEST_INFLUX_PASSWORD"


def influx_sink(url: str, influxdb: Any) -> dict[str, Any]:
    return {"name": "influx", "type": "influxdb_v1", "url": url, "database": influxdb.database,
            "username": influxdb.username, "password": {"env": PASSWORD_ENV},
            "flush_interval": "200ms", "timeout": "1s", "retry_initial": "200ms",
            "retry_max": "1s"}


def pending(daemon: Daemon) -> float:
    return daemon.metric("cleanroom_outbox_pending_readings", sink="influx") or 0.0


def in_influx(influxdb: Any, upto_ns: int) -> int:
    rows = influxdb.values(f'SELECT count("value") FROM "reading" WHERE time <= {upto_ns}')
    return int(rows[0][1]) if rows else 0


async def drained_and_equal(daemon: Daemon, influxdb: Any, data_dir: Path) -> None:
    """Once the outbox is empty, InfluxDB holds every reading the store held before then.

    Readings taken after that moment may still be in the outbox when the daemon
    stops (they are sent at the next start), so the comparison stops at a
    cut-off a second before the outbox was seen empty.
    """
    await wait_for(lambda: pending(daemon) == 0, 30, "the outbox to drain")
    cutoff = time.time_ns() - 1_000_000_000
    await daemon.stop()
    assert_nothing_lost(daemon, data_dir)
    local = count_readings(data_dir, None, cutoff + 1)
    remote = await asyncio.to_thread(in_influx, influxdb, cutoff)
    assert local > 0
    assert remote == local, f"InfluxDB holds {remote} readings, the local store {local}"


async def test_influxdb_stopped_and_restarted(tmp_path: Path, influxdb: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, influxdb.password)
    (port,) = free_ports(1)
    data_dir = tmp_path / "data"
    config = write(tmp_path / "site.yaml",
                   fault_site(data_dir, [port], sinks=[influx_sink(influxdb.url, influxdb)]))
    async with running_farm([port]):
        daemon = await start_daemon(config)
        try:
            await wait_for(lambda: (daemon.metric("cleanroom_outbox_sent_readings_total",
                                                  sink="influx") or 0) > 0, 15, "first send")
            await asyncio.to_thread(influxdb.stop)
            await wait_for(lambda: daemon.metric("cleanroom_outbox_sink_up", sink="influx") == 0,
                           10, "the sink to be reported down")
            level = pending(daemon)
            await asyncio.sleep(1.5)
            assert pending(daemon) > level, "the outbox did not grow while InfluxDB was down"
            assert any("influx" in p for p in daemon.storage_health()), daemon.storage_health()
            accepted_during = daemon.accepted
            await asyncio.to_thread(influxdb.start)
            await wait_for(lambda: daemon.metric("cleanroom_outbox_sink_up", sink="influx") == 1,
                           15, "the sink to be reported up")
            assert daemon.accepted > accepted_during
        except BaseException:
            await daemon.stop()
            raise
        await drained_and_equal(daemon, influxdb, data_dir)


async def test_influxdb_answering_slowly(tmp_path: Path, influxdb: Any,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, influxdb.password)
    (port,) = free_ports(1)
    proxy = DelayProxy("127.0.0.1", influxdb.port)
    await proxy.start()
    data_dir = tmp_path / "data"
    sink = influx_sink(f"http://127.0.0.1:{proxy.port}", influxdb)
    config = write(tmp_path / "site.yaml", fault_site(data_dir, [port], sinks=[sink]))
    try:
        async with running_farm([port]):
            daemon = await start_daemon(config)
            try:
                await wait_for(lambda: (daemon.metric("cleanroom_outbox_sent_readings_total",
                                                      sink="influx") or 0) > 0, 15, "first send")
                proxy.delay = 2.5  # beyond the sink's 1 s request timeout
                polled = daemon.accepted
                await wait_for(lambda: (daemon.metric("cleanroom_outbox_send_errors_total",
                                                      sink="influx") or 0) > 0,
                               10, "a send error to be counted")
                await wait_for(lambda: pending(daemon) > 200, 10, "the outbox to grow")
                # polling is not slowed down by the sink: 4 devices x 10 channels x 5/s
                start = daemon.accepted
                await asyncio.sleep(2.0)
                assert daemon.accepted - start >= 0.8 * 200 * 2.0
                assert daemon.accepted > polled
                proxy.delay = 0.0
            except BaseException:
                await daemon.stop()
                raise
            await drained_and_equal(daemon, influxdb, data_dir)
    finally:
        await proxy.stop()
