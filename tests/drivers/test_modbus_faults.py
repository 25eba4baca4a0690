"""Bad input from one device on a shared bus: its quality and counter say what happened,
the poller keeps going, and the healthy neighbour is neither delayed beyond the faulty
device's own timeout nor loses a reading."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest

from monitor.drivers.modbus import ModbusDriver
from monitor.model import Quality
from simulators import World
from simulators.modbus.devices import sim_device
from tests.fixtures.modbus_sim import Collector, binding, tcp_connection

DP = "dp-generic"

CASES = [
    # (simulator fault, params, driver's error kind, reconnects the TCP stream)
    ("exception", {"code": 4}, "exception", False),
    ("no_response", {}, "timeout", False),
    # a reply that comes after the timeout carries an old transaction id: the stream is
    # out of step when it lands while the next request waits, and is reopened
    ("late", {"delay": 0.3}, "timeout|out_of_step", None),
    ("garbage", {}, "garbled", True),
    ("short", {}, "garbled", True),
    ("wrong_unit", {}, "wrong_unit", False),
    ("out_of_step", {}, "out_of_step", True),
]


async def _pair(modbus_sim, world: World, **conn):
    devices = [sim_device(world, "bad", 1, DP, "room"), sim_device(world, "good", 2, DP, "room")]
    sim = await modbus_sim(devices)
    out = Collector()
    driver = ModbusDriver(
        tcp_connection(sim.port, **conn),
        [binding("bad", DP, 1, timeout="200ms", poll_interval="500ms"),
         binding("good", DP, 2, poll_interval="500ms")],
        out,
    )
    return sim, driver, out


@pytest.mark.parametrize(("mode", "params", "kind", "reconnects"), CASES,
                         ids=[c[0] for c in CASES])
async def test_fault_kind_quality_and_counter(  # noqa: PLR0917  (fixtures + parameters)
    modbus_sim, sim_world: World, caplog: pytest.LogCaptureFixture,
    mode: str, params: dict, kind: str, reconnects: bool | None,
) -> None:
    caplog.set_level(logging.INFO, logger="monitor.drivers.modbus")
    sim, driver, out = await _pair(modbus_sim, sim_world)
    await driver.poll_once()
    connects = driver.bus.connects
    sim.set_comm_fault("bad", mode, **params)
    for _ in range(3):
        await driver.poll_once()
    await asyncio.sleep(0.4)  # let a late reply arrive while nothing waits for it
    bad = list(out.of("bad/dp"))[1:]
    assert [r.quality for r in bad] == [Quality.COMM_ERROR] * 3
    kinds = kind.split("|")
    assert all(r.detail.split(":")[0] in kinds and r.value is None for r in bad), [
        r.detail for r in bad]
    assert bad[0].detail.startswith(kinds[0])
    status = driver.status["bad"]
    assert sum(status.errors[k] for k in kinds) == 3
    assert sum(status.errors.values()) == 3
    assert not status.available
    assert status.last_error
    good = out.of("good/dp")
    assert [r.quality for r in good] == [Quality.GOOD] * 4
    assert driver.status["good"].available
    assert not driver.status["good"].errors
    if reconnects is not None:
        assert (driver.bus.connects > connects) is reconnects

    sim.set_comm_fault("bad", None)
    await driver.poll_once()
    await driver.poll_once()
    driver.close()
    assert out.last("bad/dp").quality is Quality.GOOD
    assert status.available
    assert status.polls == 6
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("device failing") == 1  # once when it fails...
    assert messages.count("device recovered") == 1  # ...and once when it recovers
    failing = next(r for r in caplog.records if r.getMessage() == "device failing")
    assert failing.fields["device"] == "bad"  # type: ignore[attr-defined]
    assert failing.fields["kind"] == kinds[0]  # type: ignore[attr-defined]


async def test_neighbour_keeps_its_schedule_while_a_device_times_out(
    modbus_sim, sim_world: World
) -> None:
    sim, driver, out = await _pair(modbus_sim, sim_world, backoff_max="1s")
    sim.set_comm_fault("bad", "no_response")
    task = asyncio.create_task(driver.run())
    await asyncio.sleep(3.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    good = out.of("good/dp")
    assert 5 <= len(good) <= 7
    assert all(r.quality is Quality.GOOD for r in good)
    gaps = [(b.ts_ns - a.ts_ns) / 1e9 for a, b in itertools.pairwise(good)]
    # every 0.5 s; when the bad device is polled first the neighbour waits its 200 ms (0.7 s,
    # then 0.3 s back on the grid); 50 ms either way for a loaded machine's scheduling delays
    assert all(0.2 <= g <= 0.8 for g in gaps), gaps
    bad = driver.status["bad"]
    # capped backoff: polled at 0.5, 1, 1, 1 ... s instead of every tick
    assert 3 <= bad.errors["timeout"] <= 5, bad.errors
    assert driver.status["good"].overruns == 0
    assert driver.skipped_ticks == 0


async def test_nan_and_out_of_range_from_the_sensor(modbus_sim, sim_world: World) -> None:
    sim, driver, out = await _pair(modbus_sim, sim_world)
    sim.model("bad").force("differential_pressure", float("nan"))
    await driver.poll_once()
    sim.model("bad").force("differential_pressure", 250.0)
    await driver.poll_once()
    sim.model("bad").set_fault("sensor")
    sim.model("bad").force("differential_pressure", None)
    await driver.poll_once()
    driver.close()
    nan, high, fault = out.of("bad/dp")
    assert (nan.quality, nan.value, nan.detail) == (Quality.INVALID, None, "NaN")
    assert high.quality is Quality.OUT_OF_RANGE
    assert high.value == 250.0
    assert fault.quality is Quality.DEVICE_FAULT
    assert fault.detail == "sensor fault"
    assert fault.value is not None  # the value is kept for the record, flagged
    errors = driver.status["bad"].errors
    assert errors == {"invalid": 1, "out_of_range": 1, "device_fault": 1}
    assert driver.status["bad"].available  # it answered: a sensor problem, not a comm one
    assert [r.quality for r in out.of("good/dp")] == [Quality.GOOD] * 3


async def test_close_between_polls_and_connect_delay(modbus_sim, sim_world: World) -> None:
    _sim, driver, out = await _pair(modbus_sim, sim_world, keep_open=False,
                                   connect_delay="100ms")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await driver.poll_once()
    await driver.poll_once()
    elapsed = loop.time() - started
    assert driver.bus.connects == 2
    assert not driver.bus.connected
    assert elapsed >= 0.2
    assert len(out.readings) == 4
    assert {r.quality for r in out.readings} == {Quality.GOOD}


async def test_gateway_gone_and_back(modbus_sim, sim_world: World) -> None:
    sim, driver, out = await _pair(modbus_sim, sim_world)
    await driver.poll_once()
    port = sim.port
    await sim.stop()
    await driver.poll_once()
    assert {r.detail.split(":")[0] for r in out.readings[2:]} <= {"connect", "disconnected"}
    assert driver.status["good"].errors.total() == 1
    await modbus_sim(list(sim.devices.values()), port=port)
    await driver.poll_once()
    driver.close()
    assert out.last("good/dp").quality is Quality.GOOD
    assert driver.status["good"].available
