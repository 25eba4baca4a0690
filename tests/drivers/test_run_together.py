"""A runtime's Modbus drivers run from one task (``ModbusDriver.run_together``): no task is
parked per connection; a driver's work that the poll cycle hands off runs in a worker task
made for it, which ends when nothing is left; a stop cleans every driver up, and a bug in a
worker still ends the runtime's task group. Real simulators, real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from monitor import runtime as runtime_module
from monitor.config import load_config
from monitor.drivers.modbus import ModbusDriver
from monitor.drivers.modbus import driver as driver_module
from monitor.drivers.modbus.device import DeviceRuntime
from monitor.model import Quality, Reading
from monitor.runtime import build_runtime
from simulators import World
from simulators.modbus.devices import sim_device
from tests.fixtures.modbus_sim import Collector, binding, tcp_connection
from tests.fixtures.mosquitto import Mosquitto

DP = "dp-generic"
PC = "lighthouse-remote-4ch"
REPO = Path(__file__).resolve().parents[2]


def _drivers(port: int, names: Sequence[str], out: Collector, *, first_unit: int = 1,
             **conn: Any) -> list[ModbusDriver]:
    """A connection per device (each a Modbus TCP server of its own, as at a real site)."""
    return [
        ModbusDriver(tcp_connection(port, name=f"conn-{name}", **conn),
                     [binding(name, DP, first_unit + i, connection=f"conn-{name}",
                              poll_interval="200ms")], out)
        for i, name in enumerate(names)
    ]


def _tasks_of(what: str) -> list[asyncio.Task[Any]]:
    """Live tasks running ``ModbusDriver.<what>`` (``run_together`` or ``_work``)."""
    return [t for t in asyncio.all_tasks()
            if getattr(t.get_coro(), "__qualname__", "") == f"ModbusDriver.{what}"]


async def _until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def _together(drivers: list[ModbusDriver]) -> AsyncIterator[asyncio.Task[None]]:
    """The drivers started as a runtime starts them; cancelled (and awaited) at the end."""
    task = asyncio.create_task(ModbusDriver.run_together(drivers), name="drivers:modbus")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, runtime_module.TASK_STOP_TIMEOUT)


def _workers_seen() -> list[asyncio.Task[Any]]:
    """Every task made from now on in this loop (a task factory keeping them)."""
    loop = asyncio.get_running_loop()
    made: list[asyncio.Task[Any]] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=loop, **kwargs)
        made.append(task)
        return task

    loop.set_task_factory(factory)
    return made


async def test_many_connections_are_polled_with_no_task_per_connection(
    modbus_sim, sim_world: World
) -> None:
    names = [f"dp{i:02d}" for i in range(40)]
    sim = await modbus_sim([sim_device(sim_world, n, i + 1, DP, "room")
                            for i, n in enumerate(names)])
    out = Collector()
    drivers = _drivers(sim.port, names, out)
    async with asyncio.TaskGroup() as group:
        tasks = ModbusDriver.start_together(drivers, group)
        assert [t.get_name() for t in tasks] == ["drivers:modbus"]
        await _until(lambda: all(d.status[d.devices[0].name].polls >= 2 for d in drivers),
                     10, "every device polled twice")
        polls = sum(d.status[d.devices[0].name].polls for d in drivers)
        for _ in range(40):  # 1 s: ~5 polls of each of the 40 connections
            assert not _tasks_of("_work"), [t.get_name() for t in _tasks_of("_work")]
            assert len(_tasks_of("run_together")) == 1
            await asyncio.sleep(0.025)
        assert sum(d.status[d.devices[0].name].polls for d in drivers) >= polls + 40 * 3
        # each connection woke a worker once, to connect; every later poll ran by callback
        assert [d.task_polls for d in drivers] == [1] * len(drivers)
        tasks[0].cancel()
    assert {r.quality for r in out.readings} == {Quality.GOOD}
    assert all(d.bus.client is None for d in drivers)  # every connection closed at the stop


async def test_a_device_that_goes_away_and_comes_back(modbus_sim, sim_world: World) -> None:
    steady = await modbus_sim([sim_device(sim_world, "steady", 1, DP, "room")])
    going = await modbus_sim([sim_device(sim_world, "going", 1, DP, "room")])
    out = Collector()
    drivers = [*_drivers(steady.port, ["steady"], out, backoff_max="200ms"),
               *_drivers(going.port, ["going"], out, backoff_max="200ms")]
    made = _workers_seen()
    try:
        await _go_away_and_come_back(drivers, going, out, made)
    finally:
        asyncio.get_running_loop().set_task_factory(None)


async def _go_away_and_come_back(drivers: list[ModbusDriver], going: Any, out: Collector,
                                 made: list[asyncio.Task[Any]]) -> None:
    async with _together(drivers):
        await _until(lambda: drivers[1].status["going"].available, 5, "the first polls")
        connects = drivers[1].bus.connects
        await asyncio.sleep(0.3)
        assert not _tasks_of("_work")

        await going.stop()
        await _until(lambda: len(out.of("going/dp")) > 0
                     and out.last("going/dp").quality is Quality.COMM_ERROR, 5, "the outage")
        await asyncio.sleep(0.5)  # retried on its schedule meanwhile (connection refused)
        tries = [t for t in made if t.get_name() == "driver:conn-going"]
        assert len(tries) >= 2, "each retry is a worker of its own"

        await going.start()  # the same port again
        await _until(lambda: out.last("going/dp").quality is Quality.GOOD, 5, "the recovery")
        await asyncio.sleep(0.3)
        assert drivers[1].bus.connects > connects
        assert drivers[1].status["going"].available
        assert all(t.done() for t in made if t.get_name().startswith("driver:"))
        assert not _tasks_of("_work")  # polled by callback again, no worker left
        # the neighbour on its own connection never needed a worker after connecting
        assert drivers[0].task_polls == 1
        assert not drivers[0].status["steady"].errors


async def test_stop_while_a_worker_holds_the_bus_lock(modbus_sim, sim_world: World) -> None:
    sim = await modbus_sim([sim_device(sim_world, "bad", 1, DP, "room"),
                            sim_device(sim_world, "good", 2, DP, "room")])
    out = Collector()
    # the first poll connects on a worker, which holds the lock for 3 attempts of 300 ms
    drivers = _drivers(sim.port, ["bad", "good"], out, retries=2)
    sim.set_comm_fault("bad", "no_response")
    task = asyncio.create_task(ModbusDriver.run_together(drivers))
    bad = drivers[0]
    await _until(lambda: bad.task_polls == 1 and bad._worker is not None
                 and bad.bus.lock.locked() and bad._cycle is not None
                 and bad._cycle.dev is None, 5, "a worker holding the lock")
    await asyncio.sleep(0.4)  # into its second attempt
    assert bad._worker is not None
    assert bad.bus.lock.locked()
    worker = bad._worker
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < runtime_module.TASK_STOP_TIMEOUT
    assert worker.cancelled()
    assert not bad.bus.lock.locked()
    assert all(d.bus.client is None for d in drivers)
    assert not _tasks_of("_work")
    # the bus is usable again: nothing waits for a lock that is never given back
    sim.set_comm_fault("bad", None)
    await asyncio.wait_for(bad.poll_once(), 5)
    assert out.last("bad/dp").quality is Quality.GOOD


async def test_cursors_of_every_counter_are_saved_on_stop(
    modbus_sim, sim_world: World, tmp_path: Path
) -> None:
    sim_world.location("room").set(state="in_operation", in_operation_0_5=300_000)
    counters = [sim_device(sim_world, f"pc{i}", i + 1, PC, "room", sample_s=60)
                for i in range(2)]
    sim = await modbus_sim([*counters, sim_device(sim_world, "dp", 3, DP, "room")])
    out = Collector()
    drivers = [ModbusDriver(tcp_connection(sim.port, name=f"conn-pc{i}"),
                            [binding(f"pc{i}", PC, i + 1, poll_interval="10s")], out)
               for i in range(2)]
    drivers += _drivers(sim.port, ["dp"], out, first_unit=3)
    for d in drivers:
        d.cursor_file = tmp_path / f"modbus-cursors-{d.bus.name}.json"
    sim_world.clock.advance(120)  # two records filed
    async with _together(drivers):
        await _until(lambda: all(out.of(f"pc{i}/p0_5um") for i in range(2)), 5,
                     "both counters' newest records")
        for d in drivers[:2]:
            assert d.cursor_file is not None
            d.cursor_file.unlink()  # saved after the first tick; the next is 10 s away
        for d in drivers[:2]:
            d._saved = None
    for i, device in enumerate(counters):
        saved = json.loads((tmp_path / f"modbus-cursors-conn-pc{i}.json").read_text())
        assert saved == {f"pc{i}": device.model.records[-1].ts}
    assert not (tmp_path / "modbus-cursors-conn-dp.json").exists()  # no counter, no file


async def test_a_bug_in_a_worker_ends_the_task_group(
    modbus_sim, sim_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ["a", "b", "buggy", "c"]
    sim = await modbus_sim([sim_device(sim_world, n, i + 1, DP, "room")
                            for i, n in enumerate(names)])
    out = Collector()
    drivers = _drivers(sim.port, names, out)
    poll = DeviceRuntime.poll

    async def buggy_poll(self: DeviceRuntime, *args: Any) -> list[Reading]:
        if self.name == "buggy":
            raise RuntimeError("a bug, not a device problem")
        return await poll(self, *args)

    monkeypatch.setattr(DeviceRuntime, "poll", buggy_poll)
    siblings: list[asyncio.Task[None]] = []

    async def runtime_group() -> None:
        async with asyncio.TaskGroup() as group:
            siblings.append(group.create_task(asyncio.sleep(30), name="service:other"))
            ModbusDriver.start_together(drivers, group)

    with pytest.raises(ExceptionGroup) as caught:
        await asyncio.wait_for(runtime_group(), 10)
    (err,) = caught.value.exceptions
    assert isinstance(err, RuntimeError)
    assert "raised in task driver:conn-buggy" in err.__notes__
    assert siblings[0].cancelled()  # the group ended: everything else in it was cancelled
    assert all(d.bus.client is None and not d.bus.lock.locked() for d in drivers)
    assert not _tasks_of("_work")


async def test_a_worker_that_ignores_the_stop_does_not_hold_up_the_others(
    modbus_sim, sim_world: World, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A worker stuck past its cancel (a bug) is logged and left; every other driver is
    still cleaned up, and the stop ends within the runtime's bound."""
    names = ["a", "stuck", "b"]
    sim = await modbus_sim([sim_device(sim_world, n, i + 1, DP, "room")
                            for i, n in enumerate(names)])
    out = Collector()
    drivers = _drivers(sim.port, names, out)
    poll = DeviceRuntime.poll
    release = asyncio.Event()

    async def stuck_poll(self: DeviceRuntime, *args: Any) -> list[Reading]:
        if self.name == "stuck":
            while not release.is_set():
                with contextlib.suppress(asyncio.CancelledError):  # the bug
                    await release.wait()
        return await poll(self, *args)

    monkeypatch.setattr(DeviceRuntime, "poll", stuck_poll)
    task = asyncio.create_task(ModbusDriver.run_together(drivers))
    await _until(lambda: drivers[0].status["a"].polls >= 2 and drivers[2].status["b"].polls >= 2,
                 5, "the others polling")
    assert drivers[1]._worker is not None
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < runtime_module.TASK_STOP_TIMEOUT
    assert "driver worker did not stop in time" in caplog.text
    assert drivers[0].bus.client is None
    assert drivers[2].bus.client is None
    release.set()  # the stuck one ends rather than outlive the test
    await _until(lambda: not _tasks_of("_work"), 5, "the stuck worker to end")
    drivers[1].close()


def test_workers_stop_within_the_runtime_stop() -> None:
    assert driver_module.WORKER_STOP_TIMEOUT < runtime_module.TASK_STOP_TIMEOUT


async def test_run_alone_still_polls_one_driver(modbus_sim, sim_world: World) -> None:
    sim = await modbus_sim([sim_device(sim_world, "dp", 1, DP, "room")])
    out = Collector()
    (driver,) = _drivers(sim.port, ["dp"], out)
    task = asyncio.create_task(driver.run())
    await _until(lambda: driver.status["dp"].polls >= 3, 5, "three polls")
    assert not _tasks_of("_work")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert driver.bus.client is None
    assert {r.quality for r in out.readings} == {Quality.GOOD}


def _mixed_site(tmp: Path, modbus_port: int, broker: Mosquitto) -> str:
    return f"""\
site: {{id: mixed, name: Modbus and MQTT}}
data_dir: {tmp / "data"}
include: ["{REPO}/config/devices/*.yaml"]
connections:
  - {{name: tcp-a, driver: modbus_tcp, host: 127.0.0.1, port: {modbus_port}, timeout: 500ms,
     start_jitter: 0s}}
  - {{name: tcp-b, driver: modbus_tcp, host: 127.0.0.1, port: {modbus_port}, timeout: 500ms,
     start_jitter: 0s}}
  - {{name: broker, driver: mqtt, host: {broker.host}, port: {broker.port}, client_id: mixed}}
rooms:
  - name: fill
    grade: B
    locations:
      - {{name: fill-1}}
devices:
  - {{name: dp-a, connection: tcp-a, location: fill-1, profile: dp-generic, unit_id: 1,
     poll_interval: 200ms}}
  - {{name: dp-b, connection: tcp-b, location: fill-1, profile: dp-generic, unit_id: 2,
     poll_interval: 200ms}}
  - {{name: dp-mqtt, connection: broker, location: fill-1, profile: dp-mqtt, topic: mixed/dp}}
"""


async def test_a_mixed_site_starts_and_stops(
    modbus_sim, sim_world: World, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    sim = await modbus_sim([sim_device(sim_world, "dp-a", 1, DP, "fill-1"),
                            sim_device(sim_world, "dp-b", 2, DP, "fill-1")])
    config = tmp_path / "site.yaml"
    config.write_text(_mixed_site(tmp_path, sim.port, mosquitto))
    runtime = build_runtime(load_config(config), with_http=False)
    seen = Collector()
    runtime.pipeline.reading_listeners.append(seen)
    async with asyncio.TaskGroup() as group:
        await runtime.start(group)
        names = sorted(t.get_name() for t in runtime._tasks
                       if t.get_name().startswith("driver"))
        assert names == ["driver:broker", "drivers:modbus"]
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="mixed-pub") as pub:
            async def mqtt_seen() -> None:
                while not seen.of("dp-mqtt/dp"):
                    await pub.publish("mixed/dp/dp", "12.5", qos=1)
                    await asyncio.sleep(0.1)

            await asyncio.wait_for(mqtt_seen(), 10)
        await _until(lambda: bool(seen.of("dp-a/dp") and seen.of("dp-b/dp")), 5,
                     "both Modbus devices")
        assert runtime.driver_tasks_running
        await asyncio.wait_for(runtime.stop(), 2 * runtime_module.TASK_STOP_TIMEOUT + 5)
        assert not runtime.driver_tasks_running
        assert all(t.done() for t in runtime._tasks)
    assert not _tasks_of("_work")
    assert seen.last("dp-mqtt/dp").value == pytest.approx(12.5)
    assert {r.quality for r in seen.readings if r.channel.startswith("dp-")} == {Quality.GOOD}
    modbus = [d for d in runtime.drivers if isinstance(d, ModbusDriver)]
    assert len(modbus) == 2
    assert all(d.bus.client is None for d in modbus)
