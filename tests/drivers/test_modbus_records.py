"""The particle-counter record logic against the Lighthouse-style simulator.

The simulated counter files a record every 60 s of a manual clock; the test
moves the clock and polls, so every record boundary is exact.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.drivers.modbus import ModbusDriver
from monitor.model import Quality
from simulators import ManualClock, World
from simulators.modbus.devices import sim_device
from tests.fixtures.modbus_sim import Collector, binding, profile, tcp_connection

PC = "lighthouse-remote-4ch"
COUNT_CHANNELS = ["pc/p0_3um", "pc/p0_5um", "pc/p1_0um", "pc/p5_0um"]
VOLUME_M3 = 28.316846592 * 60 / 60 / 1000  # 1 CFM for 60 s


async def _setup(modbus_sim, world: World, **options):
    world.location("room").set(state="in_operation", in_operation_0_5=300_000)
    device = sim_device(world, "pc", 1, PC, "room", sample_s=60, **options)
    sim = await modbus_sim([device])
    out = Collector()
    driver = ModbusDriver(tcp_connection(sim.port), [binding("pc", PC, 1)], out)
    return sim, device.model, driver, out


def _record_times(out: Collector) -> list[int]:
    return [r.device_ts_ns // 10**9 for r in out.of("pc/p0_5um") if r.quality is Quality.GOOD]


async def test_each_record_once_with_counts_per_m3(modbus_sim, sim_world: World) -> None:
    clock = sim_world.clock
    assert isinstance(clock, ManualClock)
    _sim, counter, driver, out = await _setup(modbus_sim, sim_world)
    start = int(clock.now())
    await driver.poll_once()
    assert out.readings == []  # no record filed yet
    clock.advance(60)
    await driver.poll_once()
    await driver.poll_once()
    clock.advance(30)
    await driver.poll_once()
    clock.advance(30)
    await driver.poll_once()
    await driver.poll_once()
    driver.close()
    assert _record_times(out) == [start + 60, start + 120]
    for rec, (t, idx) in zip(counter.records, ((start + 60, 0), (start + 120, 1)), strict=True):
        assert rec.ts == t
        for k, channel in enumerate(COUNT_CHANNELS):
            reading = out.of(channel)[idx]
            assert reading.raw == rec.counts[k]
            assert reading.value == pytest.approx(rec.counts[k] / VOLUME_M3)
            assert reading.device_ts_ns == t * 10**9
            assert reading.quality is Quality.GOOD
    volume = out.last("pc/sample_volume")
    assert volume.value == pytest.approx(28.316846592)
    assert volume.raw == 60
    # cumulative counts stay ordered and the 0.5 um level is near the concentration set
    rec = counter.records[-1]
    assert rec.counts[0] >= rec.counts[1] >= rec.counts[2] >= rec.counts[3]
    assert out.last("pc/p0_5um").value == pytest.approx(300_000, rel=0.05)


async def test_catch_up_after_an_outage_without_gap(modbus_sim, sim_world: World) -> None:
    clock = sim_world.clock
    sim, counter, driver, out = await _setup(modbus_sim, sim_world)
    clock.advance(60)
    await driver.poll_once()
    sim.set_comm_fault("pc", "no_response")
    for _ in range(2):
        clock.advance(150)
        await driver.poll_once()
    errors = [r for r in out.readings if r.quality is Quality.COMM_ERROR]
    assert {r.channel for r in errors} == {*COUNT_CHANNELS, "pc/sample_volume"}
    assert all(r.detail.startswith("timeout") for r in errors)
    assert driver.status["pc"].errors["timeout"] == 2
    assert not driver.status["pc"].available
    sim.set_comm_fault("pc", None)
    await driver.poll_once()
    driver.close()
    assert _record_times(out) == [r.ts for r in counter.records]  # all six, in order, once
    assert len(counter.records) == 6
    assert not any("lost" in (r.detail or "") for r in out.readings)
    assert driver.status["pc"].available


async def test_overwritten_records_are_marked_as_a_gap(modbus_sim, sim_world: World) -> None:
    clock = sim_world.clock
    sim, counter, driver, out = await _setup(modbus_sim, sim_world, capacity=5)
    clock.advance(60)
    await driver.poll_once()
    last_read = counter.records[-1].ts
    sim.set_comm_fault("pc", "exception", code=6)
    clock.advance(60 * 12)  # 12 records filed, only the newest 5 survive
    await driver.poll_once()
    assert driver.status["pc"].errors["exception"] == 1
    sim.set_comm_fault("pc", None)
    out.clear()
    await driver.poll_once()
    driver.close()
    gap = [r for r in out.readings if r.quality is Quality.COMM_ERROR]
    assert {r.channel for r in gap} == set(COUNT_CHANNELS)
    assert "records lost: about 7" in gap[0].detail
    assert gap[0].device_ts_ns == (last_read + 60) * 10**9
    assert _record_times(out) == [r.ts for r in counter.records]
    # the marker comes before the surviving records
    first_good = next(i for i, r in enumerate(out.readings) if r.quality is Quality.GOOD)
    assert all(r.quality is Quality.COMM_ERROR for r in out.readings[:first_good])
    assert driver.status["pc"].errors["records_lost"] == 7


async def test_a_cleared_buffer_loses_only_unread_records(modbus_sim, sim_world: World) -> None:
    clock = sim_world.clock
    _sim, _counter, driver, out = await _setup(modbus_sim, sim_world)
    clock.advance(60)
    await driver.poll_once()
    clock.advance(10)
    await driver.write_command("pc", "clear_buffer", 0)  # nothing unread: nothing lost
    clock.advance(110)
    await driver.poll_once()
    assert not [r for r in out.readings if r.quality is Quality.COMM_ERROR]
    clock.advance(70)  # one record filed, then cleared before it was read
    await driver.write_command("pc", "clear_buffer", 0)
    clock.advance(60)
    await driver.poll_once()
    driver.close()
    lost = [r for r in out.readings if r.quality is Quality.COMM_ERROR]
    assert lost
    assert "about 1 " in lost[0].detail
    assert _record_times(out) == [1_700_000_060, 1_700_000_120, 1_700_000_180, 1_700_000_300]


async def test_stop_and_start_sampling_commands(modbus_sim, sim_world: World) -> None:
    clock = sim_world.clock
    sim, counter, driver, out = await _setup(modbus_sim, sim_world)
    clock.advance(60)
    await driver.poll_once()
    await driver.write_command("pc", "stop_sampling", 0)
    assert sim.request_log[-1] == (1, 6, 1, 0)  # FC06 to 40002
    assert not counter.running
    clock.advance(600)
    await driver.poll_once()
    await driver.write_command("pc", "start_sampling", 0)
    clock.advance(60)
    await driver.poll_once()
    await driver.write_command("pc", "sample_time", 30)  # FC16: u32 high word first
    assert sim.request_log[-1] == (1, 16, 32, 2)
    assert counter.sample_s == 30
    with pytest.raises(Exception, match="no command 'explode'"):
        await driver.write_command("pc", "explode", 1)
    driver.close()
    assert len(_record_times(out)) == 2  # a pause in sampling is not a gap
    assert not [r for r in out.readings if r.quality is Quality.COMM_ERROR]


async def test_status_bits_make_device_fault(modbus_sim, sim_world: World) -> None:
    clock = sim_world.clock
    _sim, counter, driver, out = await _setup(modbus_sim, sim_world)
    clock.advance(60)
    await driver.poll_once()
    counter.set_fault("laser")
    clock.advance(60)
    await driver.poll_once()
    laser = out.last("pc/p0_5um")
    assert laser.quality is Quality.DEVICE_FAULT
    assert "laser" in laser.detail
    assert laser.raw == 0
    counter.set_fault("laser", False)
    counter.set_fault("flow")
    clock.advance(60)
    await driver.poll_once()
    flow = out.last("pc/p0_5um")
    assert flow.quality is Quality.DEVICE_FAULT
    assert "flow alert" in flow.detail
    counter.set_fault("flow", False)
    clock.advance(60)
    await driver.poll_once()
    driver.close()
    assert out.last("pc/p0_5um").quality is Quality.GOOD
    assert driver.status["pc"].errors["device_fault"] == 10  # 5 channels x 2 records


async def test_differential_counters_become_cumulative(modbus_sim, sim_world: World) -> None:
    body = profile(PC).model_dump()
    body["particle_counter"]["counts"] = "differential"
    prof = profile(body)
    sim_world.location("room").set(state="in_operation")
    device = sim_device(sim_world, "pc", 1, prof, "room")
    sim = await modbus_sim([device])
    out = Collector()
    driver = ModbusDriver(tcp_connection(sim.port), [binding("pc", prof, 1)], out)
    sim_world.clock.advance(60)
    await driver.poll_once()
    driver.close()
    diff = device.model.records[-1].counts
    for k, channel in enumerate(COUNT_CHANNELS):
        reading = out.last(channel)
        assert reading.raw == diff[k]
        assert reading.value == pytest.approx(sum(diff[k:]) / VOLUME_M3)


async def test_the_cursor_survives_a_restart(modbus_sim, sim_world: World, tmp_path: Path) -> None:
    clock = sim_world.clock
    sim, counter, driver, out = await _setup(modbus_sim, sim_world)
    driver.cursor_file = tmp_path / "cursors.json"
    clock.advance(120)
    await driver.poll_once()
    driver.close()
    assert json.loads(driver.cursor_file.read_text()) == {"pc": counter.records[-1].ts}
    clock.advance(180)  # the daemon is down for three records
    again = ModbusDriver(tcp_connection(sim.port), [binding("pc", PC, 1)], out)
    again.cursor_file = str(driver.cursor_file)  # a string names the file as a Path does
    assert again.cursor_file == driver.cursor_file
    again.load_cursors()
    await again.poll_once()
    again.close()
    times = _record_times(out)
    assert times == [r.ts for r in counter.records][1:]  # newest first time, then the three
    assert len(times) == len(set(times))
