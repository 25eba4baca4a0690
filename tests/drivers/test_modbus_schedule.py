"""The poll schedule: absolute ticks on a shared grid, overruns skipped and counted,
capped backoff, and polls of many connections falling due together."""

from __future__ import annotations

import asyncio
import random

import pytest

from monitor.drivers.modbus import ModbusDriver
from monitor.drivers.modbus.schedule import GRID, DeviceSchedule, current_tick, first_tick
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
