"""attach() in a real runtime: simulator -> MQTT driver -> alarm engine -> notifiers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import aiomqtt

from monitor.config import load_config
from monitor.notify.dispatcher import Dispatcher
from monitor.runtime import build_runtime
from simulators.devices.clock import ManualClock
from simulators.devices.environment import World
from simulators.mqtt import MqttSimulator, mqtt_device
from simulators.profiles import load_profile
from tests.fixtures.mosquitto import Mosquitto
from tests.notify.kit import webhook_receiver


def _site(tmp_path: Path, broker: Mosquitto, hook_url: str) -> Path:
    doc: dict[str, Any] = {
        "site": {"id": "plant-a"},
        "data_dir": str(tmp_path / "data"),
        "profiles": {"inc": load_profile("co2-incubator-mqtt").model_dump(
            mode="json", exclude_none=True)},
        "connections": [{"name": "broker", "driver": "mqtt", "host": broker.host,
                         "port": broker.port, "client_id": "cm-attach-test"}],
        "rooms": [{"name": "lab", "grade": "C", "locations": [{"name": "lab-1"}]}],
        "devices": [{"name": "inc1", "connection": "broker", "location": "lab-1",
                     "profile": "inc", "topic": "lab/inc1"}],
        "alarms": {"limits": {"lab-1": [{"channel": "inc1/temperature", "high_action": 38.0,
                                         "priority_action": "critical"}]}},
        "notify": {
            "notifiers": [
                {"name": "qa-hook", "kind": "webhook", "url": hook_url, "secret": "k"},
                {"name": "scada", "kind": "mqtt", "host": broker.host, "port": broker.port},
            ],
            "retry": {"initial": "50ms", "max": "200ms"},
        },
    }
    path = tmp_path / "site.yaml"
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path


async def test_excursion_reaches_webhook_and_mqtt(tmp_path: Path, mosquitto: Mosquitto) -> None:
    world = World(ManualClock())
    device = mqtt_device(world, "inc1", "co2-incubator-mqtt", "lab-1", topic="lab/inc1",
                         interval=None)
    async with webhook_receiver(secret=b"k") as hook:
        loaded = load_config(_site(tmp_path, mosquitto, hook.url))
        runtime = build_runtime(loaded, with_http=False)
        dispatcher = runtime.extras["notify"]
        assert isinstance(dispatcher, Dispatcher)
        assert dispatcher in runtime.pipeline.event_listeners
        assert "notify" in runtime.services
        assert dispatcher.close in runtime.closers
        assert set(runtime.extras["notifiers"]) == {"qa-hook", "scada"}
        if runtime.alarms is None:
            raise AssertionError("the alarm engine is part of the runtime")

        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as subscriber:
            await subscriber.subscribe("cleanroom/plant-a/alarms/events", qos=1)
            group = asyncio.TaskGroup()
            async with group:
                await runtime.start(group)
                try:
                    driver = runtime.drivers[0]
                    async with asyncio.timeout(10):
                        await driver.connected.wait()  # type: ignore[attr-defined]
                    async with MqttSimulator(mosquitto.host, mosquitto.port, [device],
                                             world=world) as sim:
                        await sim.publish_now()
                        sim.set("inc1", "temperature", 39.2)  # heater runaway
                        await sim.publish_now()
                        hit, = await hook.wait_accepted(1)
                        async with asyncio.timeout(10):
                            message = await anext(aiter(subscriber.messages))
                    logged = runtime.alarms.events()
                finally:
                    with contextlib.suppress(Exception):
                        await runtime.stop()

    assert hook.signature_ok(hit)
    body = hit.json
    assert body["event"]["kind"] == "raised"
    assert body["event"]["channel"] == "inc1/temperature"
    assert body["event"]["priority"] == "critical"
    assert body["event"]["value"] == 39.2
    mqtt_doc = json.loads(message.payload)  # type: ignore[arg-type]
    assert mqtt_doc["event"]["id"] == body["event"]["id"]
    assert any(e.id == body["event"]["id"] for e in logged), "the same event as in the log"
