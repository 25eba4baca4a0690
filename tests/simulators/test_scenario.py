"""Scenarios replayed on a manual clock, and the simulate command end to end."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from monitor.drivers.modbus import ModbusDriver
from monitor.model import Quality
from simulators import ManualClock, World
from simulators.modbus.devices import sim_device
from simulators.scenario import Scenario, ScenarioSpec
from tests.fixtures.modbus_sim import Collector, binding, tcp_connection
from tests.fixtures.ports import free_port

SCENARIOS = Path(__file__).resolve().parents[2] / "simulators" / "scenarios"


def test_shipped_scenarios_load() -> None:
    for path in SCENARIOS.glob("*.yaml"):
        scenario = Scenario.load(path)
        assert scenario.spec.events, path


def test_an_event_does_one_thing() -> None:
    with pytest.raises(ValidationError, match="exactly one thing"):
        ScenarioSpec.model_validate({"events": [{"at": "1m", "location": "x"}]})
    with pytest.raises(ValidationError, match="either a location or a device"):
        ScenarioSpec.model_validate({"events": [{"at": "1m", "door": "open"}]})


async def test_excursion_faults_and_comm_faults_play_out(modbus_sim) -> None:
    world = World(ManualClock())
    devices = [sim_device(world, "pc1", 1, "lighthouse-remote-4ch", "fill-1"),
               sim_device(world, "dp1", 2, "dp-generic", "fill-1", noise_pa=0.0)]
    sim = await modbus_sim(devices, world=world)
    scenario = Scenario(ScenarioSpec.model_validate({
        "locations": {"fill-1": {"state": "at_rest", "at_rest_0_5": 1000}},
        "events": [
            {"at": "1m", "location": "fill-1", "set": {"state": "in_operation",
                                                       "particles_0_5um": 400000}},
            {"at": "2m", "location": "fill-1", "door": "open", "for": "10s"},
            {"at": "3m", "device": "pc1", "fault": "laser", "for": "1m"},
            {"at": "3m", "device": "dp1", "comm": "exception", "code": 11, "for": "30s"},
            {"at": "5m", "location": "fill-1", "set": {"particles_0_5um": 50}, "for": "2m"},
        ],
    }))
    scenario.setup(world, sim)
    out = Collector()
    driver = ModbusDriver(tcp_connection(sim.port), [binding("pc1", "lighthouse-remote-4ch", 1),
                                                     binding("dp1", "dp-generic", 2)], out)

    async def at(seconds: float) -> None:
        world.clock.set(scenario.start + seconds)
        scenario.apply_due()
        await driver.poll_once()

    await at(60)
    assert out.last("pc1/p0_5um").value < 5000  # the at-rest minute
    await at(120)
    assert out.last("pc1/p0_5um").value == pytest.approx(400_000, rel=0.05)
    await at(125)
    assert out.last("dp1/dp").value < 3
    await at(155)  # closed at 130 s: 25 s of recovery (tau 4 s)
    assert out.last("dp1/dp").value == pytest.approx(15, abs=0.5)
    await at(185)
    assert out.last("pc1/p0_5um").quality is Quality.DEVICE_FAULT
    assert out.last("dp1/dp").detail.startswith("exception: exception 11")
    await at(250)
    assert out.last("pc1/p0_5um").quality is Quality.GOOD
    assert out.last("dp1/dp").quality is Quality.GOOD
    await at(360)
    assert out.last("pc1/p0_5um").value < 1000
    await at(480)
    assert out.last("pc1/p0_5um").value == pytest.approx(400_000, rel=0.05)  # restored
    driver.close()
    assert scenario.finished
    assert [what for _, what in scenario.log][:2] == [
        "location=fill-1, set={'state': 'in_operation', 'particles_0_5um': 400000}",
        "for=10.0, location=fill-1, door=open"]


async def test_simulate_command_serves_a_scenario(tmp_path: Path) -> None:
    port = free_port()
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"""
name: smoke
clock: {{speed: 60}}
servers:
  - name: gw
    port: {port}
    devices:
      - {{name: dp1, unit_id: 2, profile: dp-generic, location: room}}
events:
  - {{at: 1s, device: dp1, comm: no_response, for: 1h}}
""")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor.cli.main", "simulate", "--scenario", str(scenario),
        "--duration", "20", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 15)
        assert f"gw: socket 127.0.0.1:{port} -> dp1@2" in line.decode()
        out = Collector()
        driver = ModbusDriver(tcp_connection(port), [binding("dp1", "dp-generic", 2)], out)
        await driver.poll_once()
        await asyncio.sleep(0.2)  # 12 simulated seconds: the comm fault has started
        await driver.poll_once()
        driver.close()
        assert out.readings[0].quality is Quality.GOOD
        assert out.readings[1].detail.startswith("timeout")
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)
    assert proc.returncode == 0
