"""The poll schedule: absolute ticks on a shared grid, overruns skipped and counted,
capped backoff, polls of many connections falling due together and woken by one
timer, and request timeouts expired by the same clock."""

from __future__ import annotations

import asyncio
import gc
import random
import weakref

import pytest
from pydantic import ValidationError

from monitor.config.devices import ModbusTcpConnection
from monitor.drivers.modbus import ModbusDriver
from monitor.drivers.modbus.schedule import (
    GRID,
    STEP,
    DeviceSchedule,
    RequestTimeout,
    TickClock,
    clock,
    current_tick,
    first_tick,
    sleep_until_tick,
)
from monitor.model import Quality
from simulators import World
from simulators.modbus.devices import sim_device
from tests.fixtures.modbus_sim import Collector, binding, tcp_connection


def test_ticks_advance_without_drift_and_skip_overruns() -> None:
    s = DeviceSchedule(interval_ticks=20, start=100, backoff_max_ticks=200)
    assert s.advance(now_tick=101, failed=False) == 0
    assert s.next_tick == 120
    # the poll that started at 120 ran until tick 165: 140 and 160 are skipped, not queued
    assert s.advance(now_tick=165, failed=False) == 2
    assert (s.next_tick, s.overruns) == (180, 2)


def test_backoff_doubles_on_the_grid_and_is_capped() -> None:
    s = DeviceSchedule(interval_ticks=20, start=0, backoff_max_ticks=100)
    due = []
    for _ in range(6):
        s.advance(now_tick=s.next_tick + 1, failed=True)
        due.append(s.next_tick)
    assert due == [20, 60, 140, 240, 340, 440]  # +20, +40, +80, then capped at +100
    s.advance(now_tick=s.next_tick + 1, failed=False)
    assert s.next_tick == 460
    assert s.failures == 0


def test_start_jitter_is_whole_grid_steps_within_the_interval() -> None:
    rng = random.Random(7)
    starts = {first_tick(1000.0, jitter=1.0, interval_ticks=20, rng=rng) for _ in range(200)}
    base = current_tick(1000.0) + 1
    assert starts == set(range(base, base + 20))
    assert first_tick(1000.0, jitter=0, interval_ticks=20, rng=rng) == base
    assert first_tick(1000.0, jitter=5.0, interval_ticks=4, rng=rng) < base + 4


async def test_many_connections_poll_together_without_drift(modbus_sim, sim_world: World) -> None:
    devices = [sim_device(sim_world, f"dp{i}", i + 1, "dp-generic", "room") for i in range(12)]
    sim = await modbus_sim(devices)
    out = Collector()
    drivers = [
        ModbusDriver(tcp_connection(sim.port, name=f"gw{i}"),
                     [binding(f"dp{i}", "dp-generic", i + 1, poll_interval="250ms")], out)
        for i in range(12)
    ]
    tasks = [asyncio.create_task(d.run()) for d in drivers]
    await asyncio.sleep(2.1)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    per_tick: dict[int, list[int]] = {}
    for r in out.readings:
        per_tick.setdefault(round(r.ts_ns / 1e9 / 0.25), []).append(r.ts_ns)
    ticks = sorted(per_tick)
    assert len(ticks) >= 7
    for tick in ticks[1:-1]:
        stamps = per_tick[tick]
        assert len(stamps) == 12  # every connection polled at every tick
        assert (max(stamps) - min(stamps)) / 1e9 < 0.1  # ...together, in one wake-up
    firsts = [min(per_tick[t]) / 1e9 for t in ticks[1:-1]]
    lateness = [f - t * 0.25 for f, t in zip(firsts, ticks[1:-1], strict=True)]
    assert max(lateness) - min(lateness) < 0.05, lateness  # no drift across ticks
    assert all(r.quality is Quality.GOOD for r in out.readings)
    assert sum(d.status[f"dp{i}"].overruns for i, d in enumerate(drivers)) == 0


async def test_an_overrunning_device_skips_ticks(modbus_sim, sim_world: World) -> None:
    sim = await modbus_sim([sim_device(sim_world, "slow", 1, "dp-generic", "room")])
    sim.set_comm_fault("slow", "late", delay=0.3)
    out = Collector()
    driver = ModbusDriver(tcp_connection(sim.port, timeout="1s"),
                          [binding("slow", "dp-generic", 1, poll_interval="200ms")], out)
    task = asyncio.create_task(driver.run())
    await asyncio.sleep(1.8)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    status = driver.status["slow"]
    # each 0.3 s poll overruns its 0.2 s tick: one tick skipped per poll, none queued
    assert 4 <= status.polls <= 5
    assert status.overruns >= status.polls - 1
    assert driver.skipped_ticks == status.overruns
    assert all(r.quality is Quality.GOOD for r in out.readings)
    assert GRID == 0.05


async def test_the_clock_wakes_every_waiter_of_a_tick_with_one_timer() -> None:
    loop = asyncio.get_running_loop()
    ticker = clock()
    assert clock() is ticker  # one per event loop, shared by every connection
    due = current_tick(loop.time()) + 3
    before = ticker.wakeups
    woken: list[float] = []

    async def park() -> None:
        await ticker.wait(due)
        woken.append(loop.time())

    await asyncio.gather(*(park() for _ in range(200)))
    assert ticker.wakeups - before == 1
    assert len(woken) == 200
    assert min(woken) >= due * GRID - 1e-6  # never before the tick...
    assert max(woken) - due * GRID < 0.05  # ...and all of them in the same pass
    assert ticker.wait(due).done()  # a tick in the past does not wait at all


async def test_cancelling_one_parked_task_leaves_the_others() -> None:
    loop = asyncio.get_running_loop()
    due = current_tick(loop.time()) + 2
    tasks = [asyncio.create_task(sleep_until_tick(due)) for _ in range(3)]
    await asyncio.sleep(0)
    tasks[0].cancel()
    await asyncio.sleep(0)
    assert tasks[0].cancelled()
    assert not tasks[1].done()
    await asyncio.gather(*tasks[1:])
    assert loop.time() >= due * GRID - 1e-6


@pytest.mark.parametrize("timeout", [0.001, 0.12, 0.2])
async def test_request_timeouts_are_never_early_and_late_by_at_most_a_step(
    timeout: float,
) -> None:
    loop = asyncio.get_running_loop()
    ticker = clock()
    pending: asyncio.Future[int] = loop.create_future()
    answered: asyncio.Future[int] = loop.create_future()
    started = loop.time()
    ticker.expire(pending, timeout)
    ticker.expire(answered, timeout)
    answered.set_result(7)  # a reply in time is left alone
    with pytest.raises(RequestTimeout):
        await pending
    elapsed = loop.time() - started
    assert timeout - 1e-6 <= elapsed < timeout + STEP + 0.03, elapsed
    assert answered.result() == 7


def test_the_clock_of_a_closed_loop_is_let_go() -> None:
    async def use() -> weakref.ref[TickClock]:
        ticker = clock()
        loop = asyncio.get_running_loop()
        await ticker.wait(current_tick(loop.time()) + 1)
        ticker.expire(loop.create_future(), 10.0)  # a timer still armed when the loop closes
        return weakref.ref(ticker)

    first = asyncio.new_event_loop()
    ticker_ref = first.run_until_complete(use())
    first.close()
    loop_ref = weakref.ref(first)
    del first
    second = asyncio.new_event_loop()
    second.run_until_complete(use())  # a new loop's first use drops the closed loop's clock
    second.close()
    gc.collect()
    assert loop_ref() is None
    assert ticker_ref() is None


def test_start_phases_are_few_offsets_spread_evenly_over_the_jitter() -> None:
    rng = random.Random(3)
    base = current_tick(1000.0) + 1
    starts = {first_tick(1000.0, 1.0, 20, rng, phases=4) - base for _ in range(400)}
    assert starts == {0, 5, 10, 15}
    starts = {first_tick(1000.0, 1.0, 20, rng, phases=3) - base for _ in range(400)}
    assert starts == {0, 6, 13}
    # more phases than steps, or none: every step of the window, as without phases
    assert {first_tick(1000.0, 0.5, 20, rng, phases=50) - base for _ in range(400)} == set(
        range(10))
    assert first_tick(1000.0, 0.0, 20, rng, phases=4) == base


def test_start_phases_are_read_from_the_connection() -> None:
    conn = ModbusTcpConnection.model_validate(
        {"name": "gw", "driver": "modbus_tcp", "host": "127.0.0.1", "start_phases": 4})
    assert conn.start_phases == 4
    with pytest.raises(ValidationError):
        ModbusTcpConnection.model_validate(
            {"name": "gw", "driver": "modbus_tcp", "host": "127.0.0.1", "start_phases": 0})
