"""The Modbus driver: every device behind one connection, polled one after another.

A bus carries one request at a time, so the devices of a connection are
polled in turn at each absolute tick of the grid they are due at. The
event loop's shared ``TickClock`` (see ``schedule``) calls the connection's
``PollCycle`` at that tick, together with those of every other Modbus
connection due then: one timer starts them all. The cycle sends a due
device's reads on an open TCP stream from that callback and takes good
replies as they arrive (see ``cycle``); a driver's worker task polls only what
the cycle hands it (a closed connection to open, a serial or RTU bus, a particle
counter, a read that failed: retries, splits and errors), so a healthy site's
polls wake no task at all. A failing device costs the others on its bus at
most its own timeout (x retries) and is then backed off; its channels get
``comm_error`` readings and its counters grow, while the other devices'
readings are emitted as usual.

A runtime's Modbus drivers run together (``run_together``): one task sets
every connection up, then waits for the stop and cleans every one up. A
driver's worker task is made when its cycle hands it work and ends when
nothing is left: a task parked for good per connection was a Task, a
coroutine frame and a future (~1 kB), 2,000 of them at a site of Modbus TCP
devices, woken only by a reconnect or a fault.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from monitor.config.devices import (
    DataType,
    ModbusSerialConnection,
    ModbusTcpConnection,
)
from monitor.drivers.base import DeviceBinding, Driver, Emit, register
from monitor.errors import DriverError
from monitor.logs import log_event
from monitor.model import Reading, utc_now_ns

from .batch import ReadingBatch, reading_batch
from .bus import Bus, BusError
from .cursors import load_cursors, save_cursors
from .cycle import PollCycle, Resume
from .decode import encode
from .device import DeviceRuntime
from .schedule import TickClock, clock, current_tick, first_tick, ticks

log = logging.getLogger("monitor.drivers.modbus")

#: Drives every driver's first-poll offset unless one is given: a ``random.Random`` is
#: 2.5 kB of Mersenne Twister state seeded from the OS, 5 MB and a syscall each at 2,000.
_RNG = random.Random()

#: How long a stopping ``run_together`` waits for its drivers' workers to end before it
#: cleans every driver up anyway; under the runtime's ``TASK_STOP_TIMEOUT`` (1.5 s), which
#: bounds the whole stop, so that every batch is flushed and every bus closed within it.
WORKER_STOP_TIMEOUT = 1.0


class _Crew:
    """The drivers one ``run_together`` runs: whether they stop, and where a worker's error
    goes (the run's task raises it, ending the runtime's task group as a driver's task did).
    """

    __slots__ = ("failed", "late", "stopping")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.failed: asyncio.Future[None] = loop.create_future()
        self.late: list[BaseException] = []  # raised by workers once the run was ending
        self.stopping = False  # no worker is made any more

    def worker_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        err = task.exception()
        if err is None:
            return
        err.add_note(f"raised in task {task.get_name()}")
        if self.failed.done():
            self.late.append(err)
        else:
            self.failed.set_exception(err)


@register("modbus_tcp", "modbus_rtu_over_tcp", "modbus_rtu", "modbus_ascii")
class ModbusDriver(Driver):
    """Polls the devices of one Modbus TCP gateway, RTU-over-TCP gateway or serial bus."""

    # one driver per connection, so per device at a site of Modbus TCP devices: its own
    # attributes and the base class' in slots, not in an instance dict (~0.3 kB)
    __slots__ = (
        "_batch", "_close_after", "_crew", "_cursor_file", "_cycle", "_job", "_loop", "_save",
        "_saved", "_worker", "bus", "connection", "devices", "emit", "rng", "runtimes",
        "skipped_ticks", "status", "task_polls",
    )
    _cursor_file: str | None

    @property
    def cursor_file(self) -> Path | None:
        """JSON file keeping each particle counter's last record timestamp across restarts;
        the service sets it (e.g. ``<data_dir>/modbus-cursors.json``) before ``run``.

        Kept as its string: a ``Path`` keeps its parts too (~0.3 kB a connection, and
        most connections have no counter and never open the file)."""
        return None if self._cursor_file is None else Path(self._cursor_file)

    @cursor_file.setter
    def cursor_file(self, path: str | os.PathLike[str] | None) -> None:
        # a string is taken as it is, so the builder need not make a Path per connection
        self._cursor_file = None if path is None else os.fspath(path)

    def __init__(
        self,
        connection: ModbusTcpConnection | ModbusSerialConnection,
        devices: Sequence[DeviceBinding],
        emit: Emit,
        *,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(connection, devices, emit)
        self.bus = Bus(connection)
        self.rng = rng or _RNG
        self.runtimes = [
            DeviceRuntime(b, connection, self.bus, self.status[b.name]) for b in devices
        ]
        self.skipped_ticks = 0
        self._cursor_file = None
        self._batch: ReadingBatch | None = None  # the running loop's: run and poll_once bind it
        self._cycle: PollCycle | None = None  # run's scheduled polls
        self._loop: asyncio.AbstractEventLoop | None = None  # run's
        self._job: DeviceRuntime | Resume | Exception | None = None  # for the worker to do
        self._worker: asyncio.Task[None] | None = None  # made by hand_off, ends when idle
        self._crew: _Crew | None = None  # the run_together running this driver
        self._save = False  # save the counters' cursors after every tick
        self._close_after = False  # close the connection after every tick
        #: scheduled polls begun or carried on by a worker task, not by the ``PollCycle``
        self.task_polls = 0

    # -- lifecycle ----------------------------------------------------------------------
    @classmethod
    def start_together(
        cls, drivers: Sequence[Self], group: asyncio.TaskGroup
    ) -> list[asyncio.Task[None]]:
        """One task for every Modbus connection of a runtime (see ``run_together``)."""
        return [group.create_task(cls.run_together(drivers), name="drivers:modbus")]

    @classmethod
    async def run_together(cls, drivers: Sequence[ModbusDriver]) -> None:
        """Poll every driver of ``drivers`` until cancelled, from this one task.

        It sets each driver up (cursors, first tick, poll cycle), then only waits:
        the tick clock and the links poll a healthy site, and work a cycle hands
        off runs in a worker task of its driver (``hand_off``). On a stop, every
        driver is cleaned up as ``run`` did for its own: a lock handed on with a
        job is given back, the cycle stopped, the readings flushed, the bus
        closed and the counters' cursors saved. An error in a worker (a bug: a
        device problem never raises) is raised here, so it ends the caller's
        task group as a driver's own task did.
        """
        loop = asyncio.get_running_loop()
        crew = _Crew(loop)
        batch = reading_batch()
        ticker = clock()  # shared by every connection: the polls due together wake together
        started: list[ModbusDriver] = []
        try:
            for driver in drivers:
                driver._start(loop, batch, ticker, crew)
                started.append(driver)
            await crew.failed  # only ever fails (a worker's error); otherwise until cancelled
        finally:
            await _stop_all(started, crew)

    async def run(self) -> None:
        """Poll this driver alone until cancelled (tests and tools; a runtime runs its
        Modbus drivers together)."""
        await self.run_together([self])

    def _start(self, loop: asyncio.AbstractEventLoop, batch: ReadingBatch, ticker: TickClock,
               crew: _Crew) -> None:
        self.load_cursors()
        self._loop, self._batch, self._crew = loop, batch, crew
        cfg = self.connection
        runtimes = self.runtimes
        interval = min(d.interval_ticks for d in runtimes)
        start = first_tick(loop.time(), cfg.start_jitter, interval, self.rng,
                           cfg.start_phases)
        backoff_max = ticks(cfg.backoff_max)
        for dev in runtimes:
            dev.start(start, backoff_max)
        self._save = self._cursor_file is not None and any(
            d.counter is not None for d in runtimes)
        self._close_after = not cfg.keep_open  # read once: a config model's field is slow
        self._job = self._worker = None
        cycle = self._cycle = PollCycle(self, self.bus, runtimes, loop, ticker)
        cycle.arm()

    async def _work(self) -> None:
        """Do what the cycle handed off until nothing is left (the worker task's body)."""
        task = asyncio.current_task()
        cycle = self._cycle
        assert cycle is not None
        try:
            while True:
                if task is not None and task.cancelling():
                    # asyncio.wait_for (Python 3.11, e.g. in pymodbus' connect) swallows a
                    # cancel that lands as it completes; honour it here, never poll on
                    raise asyncio.CancelledError
                job = self._job
                if job is None:
                    return  # the next hand_off makes a new worker
                self._job = None
                if isinstance(job, Exception):
                    raise job
                self.task_polls += 1
                if isinstance(job, Resume):
                    dev = job.dev
                    try:
                        readings = await dev.poll(job.index, job.out, job.attempt)
                    finally:
                        self.bus.lock.release()
                    self.polled(dev, readings, job.started)
                else:
                    dev = job
                    started = time.perf_counter()
                    self.polled(dev, await self._locked_poll(dev), started)
                cycle.proceed()
        finally:
            if self._worker is task:  # in this step, so a hand_off from now on makes another
                self._worker = None

    def _finish(self) -> None:
        """Clean up after the stop (the workers have ended, or were given up on)."""
        job, self._job = self._job, None
        self._worker = self._crew = None
        if isinstance(job, Resume):  # handed on with the bus lock, never taken up
            self.bus.lock.release()
        if self._batch is not None:
            self._batch.flush()  # what this (and any other) driver polled last goes on now
        self.bus.close()
        if self._cursor_file is not None:
            self._save_cursors()

    # -- what the poll cycle asks of the driver (cycle.Owner) ---------------------------
    def hand_off(self, job: DeviceRuntime | Resume | Exception) -> None:
        self._job = job
        if self._worker is None:
            crew = self._crew
            if crew is not None and not crew.stopping:
                assert self._loop is not None
                worker = self._worker = self._loop.create_task(
                    self._work(), name=f"driver:{self.bus.name}")
                worker.add_done_callback(crew.worker_ended)

    def polled(self, dev: DeviceRuntime, readings: list[Reading], started: float) -> None:
        self._record(dev, readings, started)
        assert self._loop is not None
        skipped = dev.schedule.advance(current_tick(self._loop.time()), dev.failed)
        if skipped:
            dev.status.overruns += skipped
            self.skipped_ticks += skipped

    def cycle_done(self) -> None:
        if self._close_after:
            self.bus.close()
        if self._save:
            self._save_cursors()

    # -- polls outside the schedule -------------------------------------------------------
    async def poll_once(self, device: str | None = None) -> None:
        """Poll one device (or every device) now, outside the schedule (tests, 'read now')."""
        self._batch = reading_batch()
        for dev in self.runtimes:
            if device is None or dev.name == device:
                await self._poll(dev)
        self._batch.flush()  # a "read now" hands its readings on before it returns
        if not self.connection.keep_open:
            self.bus.close()
        if self._cursor_file is not None:
            self._save_cursors()

    def close(self) -> None:
        self.bus.close()

    async def _poll(self, dev: DeviceRuntime) -> None:
        started = time.perf_counter()
        self._record(dev, await self._locked_poll(dev), started)

    async def _locked_poll(self, dev: DeviceRuntime) -> list[Reading]:
        lock = self.bus.lock
        if not lock.try_acquire():  # free nearly always: then no coroutine at all
            await lock.acquire()
        try:
            return await dev.poll()
        finally:
            lock.release()

    def _record(self, dev: DeviceRuntime, readings: list[Reading], started: float) -> None:
        duration = time.perf_counter() - started
        status = dev.status
        if dev.failed:
            assert dev.error is not None
            if status.record_failure(dev.error.kind, str(dev.error), duration):
                log_event(log, logging.WARNING, "device failing", device=dev.name,
                          connection=self.bus.name, kind=dev.error.kind, error=str(dev.error))
        elif status.record_success(utc_now_ns(), duration):
            log_event(log, logging.INFO, "device recovered", device=dev.name,
                      connection=self.bus.name)
        if readings:
            assert self._batch is not None
            self._batch.add(self.emit, readings)

    # -- commands -----------------------------------------------------------------------
    async def write_command(self, device: str, command: str, value: int) -> None:
        """Write a profile command (FC05/06/16), e.g. ``start_sampling`` on a counter."""
        # looked for (a command is rare) rather than kept in a map per connection
        dev = next((d for d in self.runtimes if d.name == device), None)
        if dev is None:
            raise DriverError(f"no device {device!r} on connection {self.bus.name!r}")
        spec = dev.binding.profile.commands.get(command)
        if spec is None:
            known = ", ".join(sorted(dev.binding.profile.commands)) or "none"
            raise DriverError(f"{device}: profile has no command {command!r} (known: {known})")
        to_write = spec.value if spec.value is not None else value
        async with self.bus.lock:
            try:
                if spec.table == "coil":
                    await self.bus.write_coil(spec.address, bool(to_write), dev.unit, dev.timeout)
                elif spec.type in (DataType.U16, DataType.S16):
                    await self.bus.write_register(spec.address, to_write & 0xFFFF, dev.unit,
                                                  dev.timeout)
                else:
                    await self.bus.write_registers(
                        spec.address, encode(to_write, spec.type, spec.byte_order), dev.unit,
                        dev.timeout,
                    )
            except BusError as err:
                raise DriverError(f"{device}: command {command!r} failed: {err}") from err
        log_event(log, logging.INFO, "command sent", device=device, command=command,
                  value=to_write)

    # -- particle-counter cursors -------------------------------------------------------
    def load_cursors(self) -> None:
        """Read the counters' record cursors from ``cursor_file`` (``run`` does it first)."""
        if self._cursor_file is None or all(dev.counter is None for dev in self.runtimes):
            return  # only particle counters have cursors: no file look-up for the rest
        load_cursors(Path(self._cursor_file), self.runtimes)

    def _save_cursors(self) -> None:
        assert self.cursor_file is not None
        self._saved = save_cursors(self.cursor_file, self.runtimes,
                                   getattr(self, "_saved", None))


async def _stop_all(drivers: Sequence[ModbusDriver], crew: _Crew) -> None:
    """Stop ``run_together``'s drivers: no new poll or worker, workers cancelled, then every
    driver cleaned up, even if one worker does not end in time (it is logged and left)."""
    crew.stopping = True
    if crew.failed.done() and not crew.failed.cancelled():
        crew.failed.exception()  # raised by run_together already, or lost to its cancel
    errors: list[BaseException] = []
    for driver in drivers:
        if driver._cycle is not None:
            driver._cycle.stop()  # a poll in flight by callback gives its lock back
    workers = [w for d in drivers if (w := d._worker) is not None]
    for worker in workers:
        worker.cancel()
    try:
        if workers:
            _, pending = await asyncio.wait(workers, timeout=WORKER_STOP_TIMEOUT)
            for worker in pending:
                log_event(log, logging.ERROR, "driver worker did not stop in time",
                          task=worker.get_name())
    finally:
        for driver in drivers:
            try:
                driver._finish()
            except Exception as err:  # the others are still cleaned up; raised below
                errors.append(err)
    errors += crew.late
    if errors:
        raise errors[0]  # as a driver's task ended with an error raised by its clean-up
