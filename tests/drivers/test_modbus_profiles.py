"""Every shipped profile, and the worked example of docs/devices.md, served by the simulator
and read back GOOD by the driver."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from monitor.drivers.modbus import ModbusDriver
from monitor.model import Quality
from simulators import World
from simulators.modbus.devices import SimulatedDevice, sim_device
from simulators.profiles import PROFILE_DIR, load_profiles
from tests.fixtures.modbus_sim import Collector, FixedModel, binding, profile, tcp_connection

DOC = Path(__file__).resolve().parents[2] / "docs" / "devices.md"


def test_every_profile_names_its_source() -> None:
    profiles = load_profiles()
    assert set(profiles) >= {"lighthouse-remote-4ch", "dp-generic", "co2-incubator-generic",
                             "vaisala-hmt330", "ee210"}
    for name, prof in profiles.items():
        assert prof.source, name
        assert prof.family, name
        if prof.family == "generic":
            assert "generic" in prof.source, name
    assert len(list(PROFILE_DIR.glob("*.yaml"))) >= 5


@pytest.mark.parametrize("name", ["dp-generic", "co2-incubator-generic", "vaisala-hmt330",
                                  "ee210"])
async def test_shipped_register_profiles_read_good(modbus_sim, sim_world: World,
                                                   name: str) -> None:
    sim = await modbus_sim([sim_device(sim_world, "dev", 9, name, "room")])
    out = Collector()
    driver = ModbusDriver(tcp_connection(sim.port), [binding("dev", name, 9)], out)
    await driver.poll_once()
    driver.close()
    prof = profile(name)
    assert {r.channel for r in out.readings} == {f"dev/{c.name}" for c in prof.channels}
    assert {r.quality for r in out.readings} == {Quality.GOOD}, out.readings


async def test_the_worked_example_of_the_docs(modbus_sim, sim_world: World) -> None:
    text = DOC.read_text()
    block = re.search(r"```yaml\n(\s*# Acme DPT-100.*?)```", text, re.S)
    assert block, "worked example not found in docs/devices.md"
    lines = block.group(1).splitlines()
    indent = len(lines[0]) - len(lines[0].lstrip())
    doc = YAML(typ="safe").load("\n".join(line[indent:] for line in lines))
    prof = profile(doc["profiles"]["acme-dpt100"])
    model = FixedModel("dp7", sim_world, {"differential_pressure": 12.5})
    device = SimulatedDevice("dp7", 7, prof, model)
    sim = await modbus_sim([device])
    out = Collector()
    driver = ModbusDriver(tcp_connection(sim.port), [binding("dp7", prof, 7)], out)
    await driver.poll_once()
    assert out.last("dp7/dp").value == 12.5
    assert sim.request_log == [(7, 4, 0, 10)]  # one read: input 0-9
    model.values_now["differential_pressure"] = 75.0
    model.set_fault("sensor")
    await driver.poll_once()
    await driver.write_command("dp7", "zero_adjust", 0)
    driver.close()
    reading = out.last("dp7/dp")
    assert reading.quality is Quality.DEVICE_FAULT
    assert reading.detail == "sensor fault"
    assert device.map.writes[-1][1:] == (19, 1)
