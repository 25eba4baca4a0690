"""The MQTT session: broker restarts, persistent session, TLS and passwords, refused logins."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from monitor.config import LoadedConfig
from monitor.model import Quality
from tests.drivers.mqttkit import profile, publisher, running, site_config
from tests.fixtures.mosquitto import Mosquitto, MosquittoFactory

SENSOR = profile(
    {"name": "dp", "quantity": "differential_pressure", "unit": "Pa", "topic": "{topic}/dp"},
    {"name": "t", "quantity": "temperature", "unit": "degC", "topic": "{topic}/t"},
)


def _config(tmp_path: Path, broker: Mosquitto, **connection: object) -> LoadedConfig:
    return site_config(
        tmp_path, broker,
        devices=[{"name": "s1", "profile": "sensor", "topic": "plant/room1/s1"}],
        profiles={"sensor": SENSOR},
        client_id="cm-test-restart",
        subscriptions=["plant/+/s1/#"],
        **connection,
    )


async def _publish(broker: Mosquitto, values: range, **kwargs: object) -> None:
    async with publisher(broker, **kwargs) as pub:  # type: ignore[arg-type]
        for value in values:
            await pub.publish("plant/room1/s1/dp", str(value), qos=1)


async def test_broker_restart_keeps_the_session_and_its_queued_messages(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="monitor.drivers.mqtt")
    # the first reconnect comes 2-3 s after the loss: time enough to publish while it is away
    loaded = _config(tmp_path, mosquitto, reconnect_min="2500ms", reconnect_max="5s")
    async with running(loaded) as (driver, got):
        await _publish(mosquitto, range(0, 20))
        await got.wait_count("s1/dp", 20)

        await asyncio.to_thread(mosquitto.restart)
        # the driver noticed, wrote a comm_error reading per channel, and is backing off
        await got.wait(lambda: bool(got.of("s1/t", Quality.COMM_ERROR)))
        assert not driver.connected.is_set()
        # published while the driver is away: the restored session must queue them
        await _publish(mosquitto, range(20, 50))
        assert driver.connects == 1, "the driver must still be away while these are published"

        await got.wait(lambda: len(got.of("s1/dp", Quality.GOOD)) >= 50 and driver.connects == 2,
                       timeout=15)

        # a broker that lost every session (no persistence): the driver must subscribe again
        await asyncio.to_thread(mosquitto.restart, wipe=True)
        await got.wait(lambda: driver.connects == 3 and driver.connected.is_set(), timeout=15)
        await _publish(mosquitto, range(50, 60))
        await got.wait(lambda: len(got.of("s1/dp", Quality.GOOD)) >= 60, timeout=10)

    good = [r.value for r in got.of("s1/dp", Quality.GOOD)]
    assert sorted(set(good)) == [float(v) for v in range(60)], "no QoS 1 message lost"
    assert len(got.of("s1/dp", Quality.COMM_ERROR)) == 2  # one per outage, not per retry
    assert driver.status["s1"].available
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("MQTT connection lost") == 2
    assert messages.count("MQTT connected") == 3


async def test_broker_down_at_start_then_up(tmp_path: Path, mosquitto: Mosquitto) -> None:
    mosquitto.stop()
    loaded = _config(tmp_path, mosquitto, reconnect_min="100ms", reconnect_max="300ms")
    async with running(loaded, wait_connected=False) as (driver, got):
        await got.wait(lambda: bool(got.of("s1/dp", Quality.COMM_ERROR)))
        await asyncio.sleep(0.8)  # several failed attempts, still one comm_error per channel
        assert driver.connection_failures >= 2
        assert len(got.of("s1/dp", Quality.COMM_ERROR)) == 1
        await asyncio.to_thread(mosquitto.start)
        async with asyncio.timeout(10):
            await driver.connected.wait()
        await _publish(mosquitto, range(3))
        await got.wait(lambda: len(got.of("s1/dp", Quality.GOOD)) == 3)


async def test_tls_with_username_and_password(
    tmp_path: Path, mosquitto_factory: MosquittoFactory
) -> None:
    broker = mosquitto_factory(tls=True, users={"monitor": "s3cret", "sensor": "pw2"})
    assert broker.ca_file is not None
    loaded = _config(tmp_path, broker, tls=True, ca_file=broker.ca_file,
                     username="monitor", password="s3cret")
    conn = loaded.config.connections[0]
    assert "s3cret" not in repr(conn), "the password is a SecretStr"
    async with running(loaded) as (driver, got):
        import ssl

        context = ssl.create_default_context(cafile=broker.ca_file)
        await _publish(broker, range(5), username="sensor", password="pw2",
                       tls_context=context)
        await got.wait(lambda: len(got.of("s1/dp", Quality.GOOD)) == 5)
    assert driver.connects == 1


async def test_wrong_password_is_a_connection_failure_not_a_crash(
    tmp_path: Path, mosquitto_factory: MosquittoFactory
) -> None:
    broker = mosquitto_factory(users={"monitor": "right"})
    loaded = _config(tmp_path, broker, username="monitor", password="wrong",
                     reconnect_min="100ms", reconnect_max="200ms")
    async with running(loaded, wait_connected=False) as (driver, got):
        await got.wait(lambda: driver.connection_failures >= 2)
    assert driver.connects == 0
    assert driver.last_error is not None
    assert "authori" in driver.last_error.lower() or "password" in driver.last_error.lower()
    assert len(got.of("s1/t", Quality.COMM_ERROR)) == 1

