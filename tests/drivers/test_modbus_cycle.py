"""Scheduled polls run from callbacks (``cycle.PollCycle``): good replies never wake the
driver's task, and every other outcome is carried on by it with the same error kinds,
qualities, counters, retries and schedule as a poll begun there."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from monitor.drivers.modbus import ModbusDriver
from monitor.drivers.modbus.cycle import Resume
from monitor.model import Quality
from simulators import World
from simulators.modbus.devices import sim_device
from tests.drivers.test_modbus_faults import CASES, DP
from tests.fixtures.modbus_sim import Collector, binding, tcp_connection


async def _run_for(driver: ModbusDriver, seconds: float) -> None:
    task = asyncio.create_task(driver.run())
    await asyncio.sleep(seconds)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _pair(modbus_sim, world: World, **conn):
    devices = [sim_device(world, "bad", 1, DP, "room"), sim_device(world, "good", 2, DP, "room")]
    sim = await modbus_sim(devices)
    out = Collector()
    driver = ModbusDriver(
        tcp_connection(sim.port, start_jitter="0s", **conn),
        [binding("bad", DP, 1, timeout="200ms", poll_interval="250ms"),
         binding("good", DP, 2, poll_interval="250ms")],
        out,
    )
    return sim, driver, out


async def test_good_polls_never_wake_the_task(modbus_sim, sim_world: World) -> None:
    _sim, driver, out = await _pair(modbus_sim, sim_world)
    await _run_for(driver, 1.6)
    polls = driver.status["bad"].polls + driver.status["good"].polls
    assert polls >= 10
    assert driver.task_polls == 1  # the first: it opens the connection
    assert {r.quality for r in out.readings} == {Quality.GOOD}
    for name in ("bad", "good"):
        ts = [r.ts_ns for r in out.of(f"{name}/dp")]
        gaps = [(b - a) / 1e9 for a, b in itertools.pairwise(ts)]
        assert all(0.2 <= g <= 0.3 for g in gaps), gaps  # on the 250 ms grid, no drift


async def test_keep_open_false_reconnects_on_the_task_then_polls_by_callback(
    modbus_sim, sim_world: World
) -> None:
    _sim, driver, out = await _pair(modbus_sim, sim_world, keep_open=False)
    await _run_for(driver, 1.1)
    ticks = driver.status["bad"].polls
    assert ticks >= 4
    assert driver.bus.connects in (ticks, ticks + 1)  # closed after every tick, as before
    # the first device of a tick connects on the worker task (``task_polls`` counts a poll
    # when it begins: the stop may land while the next tick's one is connecting)...
    assert driver.task_polls in (ticks, ticks + 1)
    assert driver.status["good"].polls == ticks  # ...the second is polled by callback
    assert {r.quality for r in out.readings} == {Quality.GOOD}


@pytest.mark.parametrize(("mode", "params", "kind", "reconnects"), CASES,
                         ids=[c[0] for c in CASES])
async def test_scheduled_faults_are_classified_as_on_the_task(  # noqa: PLR0917
    modbus_sim, sim_world: World, mode: str, params: dict, kind: str, reconnects: bool | None,
) -> None:
    sim, driver, out = await _pair(modbus_sim, sim_world, backoff_max="250ms")
    sim.set_comm_fault("bad", mode, **params)
    await _run_for(driver, 2.0)  # ~8 ticks; a tick with a timeout and a reconnect is late
    kinds = kind.split("|")
    bad = out.of("bad/dp")
    assert len(bad) >= 3
    assert all(r.quality is Quality.COMM_ERROR and r.value is None for r in bad)
    assert all(r.detail.split(":")[0] in kinds for r in bad), [r.detail for r in bad]
    status = driver.status["bad"]
    assert sum(status.errors[k] for k in kinds) == status.polls == len(bad)
    assert not status.available
    good = out.of("good/dp")
    assert len(good) >= 4
    assert all(r.quality is Quality.GOOD for r in good)
    assert not driver.status["good"].errors
    assert driver.task_polls >= len(bad)  # each failed read was carried on by the task
    if reconnects:
        assert driver.bus.connects > 1

    sim.set_comm_fault("bad", None)
    await _run_for(driver, 0.8)
    assert out.last("bad/dp").quality is Quality.GOOD
    assert driver.status["bad"].available


async def test_retries_of_a_scheduled_poll(modbus_sim, sim_world: World) -> None:
    sim, driver, out = await _pair(modbus_sim, sim_world, retries=2)
    sim.set_comm_fault("bad", "no_response")
    await _run_for(driver, 1.0)
    status = driver.status["bad"]
    assert status.polls >= 1
    # each failed poll is 3 attempts of 200 ms (the first sent by callback, two on the task)
    assert status.last_poll_seconds >= 0.6
    assert all(r.detail.startswith("timeout") for r in out.of("bad/dp"))
    assert all(r.quality is Quality.GOOD for r in out.of("good/dp"))


async def test_a_command_holding_the_bus_puts_the_poll_on_the_task(
    modbus_sim, sim_world: World
) -> None:
    _sim, driver, out = await _pair(modbus_sim, sim_world)
    task = asyncio.create_task(driver.run())
    await asyncio.sleep(0.4)
    before = driver.task_polls
    async with driver.bus.lock:  # as write_command holds it
        await asyncio.sleep(0.5)
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert driver.task_polls > before  # waited for the lock on the task, in turn
    assert {r.quality for r in out.readings} == {Quality.GOOD}
    assert not driver.bus.lock.locked()


async def test_stop_with_a_request_in_flight_gives_the_lock_back(
    modbus_sim, sim_world: World
) -> None:
    sim, driver, _out = await _pair(modbus_sim, sim_world)
    sim.set_comm_fault("bad", "no_response")
    sim.set_comm_fault("good", "no_response")
    await driver.poll_once("good")  # connected: the next polls go out by callback
    task = asyncio.create_task(driver.run())
    await asyncio.sleep(0.15)
    assert driver.bus.lock.locked()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not driver.bus.lock.locked()
    await asyncio.sleep(0.3)  # the abandoned request's expiry reaches nobody


async def test_stop_as_a_failed_read_is_handed_to_the_task_gives_the_lock_back(
    modbus_sim, sim_world: World
) -> None:
    """The cycle hands a read that ended badly to the task with the bus lock held; a stop
    landing before the task took it up left the lock held for good: a later poll, 'read
    now' or command on the bus waited for ever."""
    sim, driver, out = await _pair(modbus_sim, sim_world)
    sim.set_comm_fault("bad", "no_response")
    await driver.poll_once("good")  # connected: the next polls go out by callback
    task = asyncio.create_task(driver.run())
    hand_off = driver.hand_off

    def stop_at_hand_off(job: object) -> None:
        hand_off(job)  # type: ignore[arg-type]
        if isinstance(job, Resume):
            task.cancel()  # the stop lands before the task runs again

    driver.hand_off = stop_at_hand_off  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert not driver.bus.lock.locked()
    driver.hand_off = hand_off  # type: ignore[method-assign]
    sim.set_comm_fault("bad", None)
    await asyncio.wait_for(driver.poll_once("bad"), 5)
    assert out.last("bad/dp").quality is Quality.GOOD
