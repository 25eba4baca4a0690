"""The MQTT simulator talks to the daemon's MQTT driver through a real Mosquitto."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from monitor.config import LoadedConfig
from monitor.model import Quality
from simulators.devices.clock import ManualClock, SimClock
from simulators.devices.environment import World
from simulators.mqtt import MqttSimulator, mqtt_device
from simulators.profiles import load_profile
from tests.drivers.mqttkit import running, site_config
from tests.fixtures.mosquitto import Mosquitto

PROFILES = ("co2-incubator-mqtt", "trh-mqtt", "dp-mqtt")


def _config(tmp_path: Path, broker: Mosquitto) -> LoadedConfig:
    profiles = {name: load_profile(name).model_dump(mode="json", exclude_none=True)
                for name in PROFILES}
    return site_config(
        tmp_path, broker,
        devices=[
            {"name": "inc1", "profile": "co2-incubator-mqtt", "topic": "lab/inc1"},
            {"name": "th1", "profile": "trh-mqtt", "topic": "lab/th1/data"},
            {"name": "dp1", "profile": "dp-mqtt", "topic": "lab/dp1"},
        ],
        profiles=profiles,
        subscriptions=["lab/#"],
    )


def _devices(world: World) -> list:  # type: ignore[type-arg]
    return [
        mqtt_device(world, "inc1", "co2-incubator-mqtt", "lab-1", topic="lab/inc1",
                    interval=None),
        mqtt_device(world, "th1", "trh-mqtt", "lab-1", topic="lab/th1/data", interval=None),
        mqtt_device(world, "dp1", "dp-mqtt", "lab-1", topic="lab/dp1", interval=None,
                    nominal_pa=12.0),
    ]


async def test_profiles_round_trip_and_scripted_values(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    clock = ManualClock(start=1_750_000_000.0)
    world = World(clock)
    loaded = _config(tmp_path, mosquitto)
    async with running(loaded) as (driver, got), \
            MqttSimulator(mosquitto.host, mosquitto.port, _devices(world), world=world) as sim:
        await sim.publish_now()
        await got.wait(lambda: len(got.readings) >= 9)
        assert driver.problems.total == 0, driver.problems.by_kind
        temp, = got.of("inc1/temperature")
        assert temp.quality is Quality.GOOD
        assert abs(temp.value - 37.0) < 0.2  # type: ignore[operator]
        assert temp.device_ts_ns == 1_750_000_000_000 * 1_000_000
        assert [r.value for r in got.of("inc1/door")] == [0.0]
        assert [r.value for r in got.of("inc1/alarm")] == [0.0]
        th, = got.of("th1/temperature")
        assert th.quality is Quality.GOOD
        assert th.device_ts_ns == 1_750_000_000 * 10**9
        dp, = got.of("dp1/dp")
        assert abs(dp.value - 12.0) < 2  # type: ignore[operator]

        # scripted values and physics
        sim.set("dp1", "differential_pressure", 4.5)
        sim.model("inc1").open_door()  # type: ignore[attr-defined]
        clock.advance(60)  # a minute with the door open: CO2 falls towards room air
        await sim.publish_now()
        await got.wait(lambda: len(got.of("dp1/dp")) == 2 and len(got.of("inc1/co2")) == 2)
        assert got.of("dp1/dp")[-1].value == 4.5
        assert got.of("inc1/door")[-1].value == 1.0
        assert got.of("inc1/co2")[-1].value < 1.0  # type: ignore[operator]
        assert got.of("inc1/alarm")[-1].value == 1.0

        # a broken sensor sends NaN: the driver makes it invalid, not a value
        sim.set("th1", "temperature", math.nan)
        await sim.publish_now("th1")
        await got.wait(lambda: len(got.of("th1/temperature")) == 3)
        assert got.of("th1/temperature")[-1].quality is Quality.INVALID
        assert got.of("th1/rh")[-1].quality is Quality.GOOD


async def test_comm_faults(tmp_path: Path, mosquitto: Mosquitto) -> None:
    world = World(ManualClock())
    loaded = _config(tmp_path, mosquitto)
    async with running(loaded) as (driver, got), \
            MqttSimulator(mosquitto.host, mosquitto.port, _devices(world), world=world) as sim:
        sim.set_comm_fault("dp1", "no_response")
        sim.set_comm_fault("inc1", "garbage")
        await sim.publish_now()
        await got.wait(lambda: bool(got.of("th1/rh")) and bool(got.of("inc1/co2")))
        assert not got.of("dp1/dp")
        assert {r.quality for r in got.of("inc1/co2")} == {Quality.INVALID}
        assert driver.problems.by_topic["lab/inc1/state"] == 1
        with pytest.raises(ValueError, match="comm fault"):
            sim.set_comm_fault("dp1", "exception")
        sim.set_comm_fault("dp1", None)
        await sim.publish_now("dp1")
        await got.wait(lambda: bool(got.of("dp1/dp")))


async def test_devices_publish_on_their_interval(tmp_path: Path, mosquitto: Mosquitto) -> None:
    world = World(SimClock(speed=10.0))  # 1 s of device time every 0.1 s
    devices = [mqtt_device(world, "dp1", "dp-mqtt", "lab-1", topic="lab/dp1", interval=1.0)]
    loaded = _config(tmp_path, mosquitto)
    async with running(loaded) as (_, got), \
            MqttSimulator(mosquitto.host, mosquitto.port, devices, world=world) as sim:
        await got.wait(lambda: len(got.of("dp1/dp")) >= 5, timeout=5)
        world.set_door("lab-1", True)  # the DP collapses within a couple of seconds
        await asyncio.sleep(0.5)
        await got.wait(lambda: got.of("dp1/dp")[-1].value < 5, timeout=5)  # type: ignore[operator]
    assert sim.published["dp1"] >= 5
