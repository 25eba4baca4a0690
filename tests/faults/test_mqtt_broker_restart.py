"""The MQTT broker restarted while devices publish and the daemon consumes.

A device publisher sends a unique value per message at QoS 1 and keeps only
those the broker acknowledged. Mosquitto is stopped (it saves its sessions)
and started again; the daemon's persistent session (fixed client id, clean
session off) keeps its subscriptions and the messages queued for it while it
was reconnecting. While the broker is down the devices show ``cleanroom_
device_up 0``, a counted connection error and a raised health alarm. At the
end every acknowledged value is in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import aiomqtt

from tests.faults.harness import (
    Daemon,
    assert_nothing_lost,
    start_daemon,
    wait_for,
    write,
)

DEVICES = 4


def site(data_dir: Path, broker: Any) -> dict[str, Any]:
    from simulators.profiles import load_profile

    return {
        "site": {"id": "faults"},
        "data_dir": str(data_dir),
        "profiles": {"dp": load_profile("dp-mqtt").model_dump(mode="json", exclude_none=True)},
        "connections": [{"name": "broker", "driver": "mqtt", "host": broker.host,
                         "port": broker.port, "client_id": "fault-daemon",
                         "clean_session": False, "qos": 1, "subscriptions": ["site/#"],
                         "reconnect_min": "200ms", "reconnect_max": "500ms"}],
        "rooms": [{"name": "room", "grade": "C",
                   "locations": [{"name": f"loc{i}"} for i in range(DEVICES)]}],
        "devices": [{"name": f"dp{i}", "connection": "broker", "location": f"loc{i}",
                     "profile": "dp", "topic": f"site/dp{i}"} for i in range(DEVICES)],
        "alarms": {"health": {"comm_fail_delay": "500ms", "stale_delay": "1s"}},
        "storage": {"embedded": {"commit_interval": "100ms"}},
        "http": {"enabled": False},
    }


class Publisher:
    """Publishes 0.001, 0.002, ... round-robin to the devices; keeps what the broker acked."""

    def __init__(self, broker: Any) -> None:
        self.broker = broker
        self.acked: set[tuple[str, float]] = set()
        self.refused = 0
        self.seq = 0

    async def run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(self.broker.host, self.broker.port,
                                          identifier="fault-device", timeout=2) as client:
                    while True:
                        self.seq += 1
                        device = f"dp{self.seq % DEVICES}"
                        value = round(self.seq * 0.001, 3)
                        await client.publish(f"site/{device}/dp", repr(value).encode(), qos=1)
                        self.acked.add((f"{device}/dp", value))
                        await asyncio.sleep(0.01)
            except aiomqtt.MqttError:
                self.refused += 1
                await asyncio.sleep(0.1)


def stored_values(data_dir: Path) -> list[tuple[str, float]]:
    conn = sqlite3.connect(f"file:{data_dir / 'readings.db'}?mode=ro", uri=True)
    try:
        return [(c, round(v, 3)) for c, v in conn.execute(
            "SELECT s.channel, r.value FROM readings r JOIN series s ON s.id = r.series "
            "WHERE r.quality = 'good'")]
    finally:
        conn.close()


def health_raised(daemon: Daemon, device: str) -> bool:
    return any(device in str(getattr(e, "channel", "") or getattr(e, "point", ""))
               for e in daemon.health_alarms())


async def test_broker_restart_loses_no_acknowledged_message(tmp_path: Path,
                                                            mosquitto: Any) -> None:
    data_dir = tmp_path / "data"
    config = write(tmp_path / "site.yaml", site(data_dir, mosquitto))
    publisher = Publisher(mosquitto)
    daemon = await start_daemon(config, wait_readings=False)
    # publish only once the daemon is subscribed: a value sent before has no receiver yet
    await wait_for(lambda: all(d.connected.is_set() for d in daemon.runtime.drivers), 10,
                   "the daemon's MQTT subscription", task=daemon.task)
    publishing = asyncio.create_task(publisher.run())
    try:
        await wait_for(lambda: daemon.accepted > 50, 10, "first MQTT readings",
                       task=daemon.task)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(mosquitto.stop)
        await wait_for(lambda: daemon.metric("cleanroom_device_up", device="dp0") == 0, 5,
                       "the devices to be reported down", task=daemon.task)
        assert (daemon.metric("cleanroom_device_poll_errors_total", device="dp0",
                              kind="connection") or 0) >= 1
        await wait_for(lambda: health_raised(daemon, "dp0"), 5, "a health alarm for dp0",
                       task=daemon.task)
        await asyncio.to_thread(mosquitto.start)
        mark = len(publisher.acked)
        await wait_for(lambda: len(publisher.acked) > mark + 100, 10, "publishing again")
        await wait_for(lambda: daemon.metric("cleanroom_device_up", device="dp0") == 1, 10,
                       "the devices to be back", task=daemon.task)
        await asyncio.sleep(1.0)
    finally:
        publishing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await publishing
        await daemon.stop()
    assert_nothing_lost(daemon, data_dir)
    got = stored_values(data_dir)
    missing = publisher.acked - set(got)
    assert not missing, f"{len(missing)} of {len(publisher.acked)} acknowledged values lost"
    assert publisher.refused >= 1, "the publisher never saw the broker go away"
