"""Helpers of the MQTT driver tests: config building, a reading collector, a driver runner."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import aiomqtt

from monitor.config import LoadedConfig, load_config
from monitor.drivers.base import DeviceBinding
from monitor.drivers.mqtt import MqttDriver
from monitor.model import Quality, Reading
from tests.fixtures.mosquitto import Mosquitto


def site_config(
    tmp_path: Path,
    broker: Mosquitto,
    devices: Sequence[dict[str, Any]],
    profiles: dict[str, Any],
    **connection: Any,
) -> LoadedConfig:
    """Write a full site config (JSON is YAML) for one MQTT connection and load it."""
    conn = {"name": "broker", "driver": "mqtt", "host": broker.host, "port": broker.port,
            "reconnect_min": "200ms", "reconnect_max": "1s", **connection}
    doc = {
        "site": {"id": "plant-a"},
        "data_dir": str(tmp_path / "data"),
        "profiles": profiles,
        "connections": [conn],
        "rooms": [{"name": "lab", "grade": "C", "locations": [{"name": "lab-1"}]}],
        "devices": [{"connection": "broker", "location": "lab-1", **d} for d in devices],
    }
    path = tmp_path / f"site-{len(list(tmp_path.glob('site-*.yaml')))}.yaml"
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return load_config(path)


def profile(*channels: dict[str, Any], kind: str = "generic") -> dict[str, Any]:
    return {"kind": kind, "family": "generic", "source": "generic", "channels": list(channels)}


def bindings(loaded: LoadedConfig) -> list[DeviceBinding]:
    cfg = loaded.config
    return [DeviceBinding(d, cfg.profiles[d.profile], tuple(loaded.device_channels(d)))
            for d in cfg.devices]


class Collector:
    """The ``emit`` of a driver under test; await ``wait`` for what the test expects."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.batches = 0
        self._changed = asyncio.Event()

    def __call__(self, readings: Sequence[Reading]) -> None:
        self.readings.extend(readings)
        self.batches += 1
        self._changed.set()

    def of(self, channel: str, quality: Quality | None = None) -> list[Reading]:
        return [r for r in self.readings
                if r.channel == channel and (quality is None or r.quality is quality)]

    async def wait(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Until ``predicate()`` holds: re-checked on every emit and every 50 ms."""
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)

    async def wait_count(self, channel: str, count: int, timeout: float = 10.0) -> None:
        await self.wait(lambda: len(self.of(channel)) >= count, timeout)


@contextlib.asynccontextmanager
async def running(loaded: LoadedConfig, wait_connected: bool = True
                  ) -> AsyncIterator[tuple[MqttDriver, Collector]]:
    """Run the config's MQTT driver until the block ends; cancellation must end it cleanly."""
    collector = Collector()
    conn = loaded.config.connections[0]
    driver = MqttDriver(conn, bindings(loaded), collector)  # type: ignore[arg-type]
    task = asyncio.create_task(driver.run())
    try:
        if wait_connected:
            async with asyncio.timeout(10):
                await driver.connected.wait()
        yield driver, collector
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert task.cancelled(), "the driver must re-raise CancelledError"


@contextlib.asynccontextmanager
async def publisher(broker: Mosquitto, **kwargs: Any) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(broker.host, broker.port, **kwargs) as client:
        yield client
