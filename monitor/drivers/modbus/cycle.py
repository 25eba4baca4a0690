"""A connection's scheduled polls run from the callbacks that decide them, not from a task.

A poll on a driver's task used to cost two task wake-ups (the tick it was
parked until, then its reply) and a coroutine chain four frames deep
(``ModbusDriver.run`` -> ``_poll`` -> ``DeviceRuntime.poll`` -> ``Bus.execute``)
suspended and resumed on each. With a connection per device (a Modbus TCP
device is its own server) that was two wake-ups per device per second, more
CPU than the Modbus exchange itself. Here the tick clock calls ``on_tick``;
a due device whose connection is open gets its planned reads written from
that callback (``Bus.send_planned``), and a whole, good reply decodes and
sends the next read, or ends the poll, from ``TcpLink.data_received`` (link.py).

Everything else keeps its coroutine path, byte for byte: a device on a
closed connection, a bus held by a command, a particle counter, and any read
whose attempt ended otherwise than with a good reply (a timeout, an exception
reply, garbage, another unit...) is handed to the driver's worker task (made
for it, see ``driver``), which carries the poll on in ``DeviceRuntime.poll``
from that read and that outcome, so retries, splits, reconnects and the error
kinds are exactly those of a poll begun there. The order of the polls in a
tick, the bus lock and the schedule (overruns, backoff) are the same as on
the task.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from monitor.model import Reading

from .replies import InFlight
from .schedule import TickClock, current_tick

if TYPE_CHECKING:
    from .bus import Bus
    from .device import DeviceRuntime


#: ``PollCycle.out`` with no poll in flight: no reading is ever added to it (a poll's
#: readings go into the list its ``begin`` made), so one list serves every connection
_IDLE: list[Reading] = []


class Owner(Protocol):
    """What the cycle needs of its driver (``ModbusDriver``)."""

    def hand_off(self, job: DeviceRuntime | Resume | Exception) -> None:
        """Have the driver's worker task poll a device, carry a poll on, or raise an error."""

    def polled(self, dev: DeviceRuntime, readings: list[Reading], started: float) -> None:
        """Count a finished poll, hand its readings on and move its schedule."""

    def cycle_done(self) -> None:
        """Every device due at a tick was polled."""


class Resume:
    """A poll begun by the cycle whose read ``index`` ended otherwise than with a good reply."""

    __slots__ = ("attempt", "dev", "index", "out", "started")

    def __init__(self, dev: DeviceRuntime, index: int, out: list[Reading], attempt: InFlight,
                 started: float) -> None:
        self.dev, self.index, self.out = dev, index, out
        self.attempt, self.started = attempt, started


class PollCycle:
    """The scheduled polls of one connection's devices (one request in flight at a time)."""

    __slots__ = ("bus", "clean", "dev", "index", "loop", "now_tick", "out", "owner", "pos",
                 "runtimes", "started", "stopped", "ticker")

    def __init__(self, owner: Owner, bus: Bus, runtimes: Sequence[DeviceRuntime],
                 loop: asyncio.AbstractEventLoop, ticker: TickClock) -> None:
        self.owner, self.bus, self.runtimes = owner, bus, runtimes
        self.loop, self.ticker = loop, ticker
        self.now_tick = 0
        self.pos = len(runtimes)  # the next device of this tick's pass to look at
        self.dev: DeviceRuntime | None = None  # polled here now (holds the bus lock)
        self.index = 0
        self.out: list[Reading] = _IDLE  # the poll in flight's readings (``begin``)
        self.clean = True  # every reading of the poll in flight so far is good
        self.started = 0.0
        self.stopped = False

    def arm(self) -> None:
        """Be called at the earliest tick a device is due."""
        runtimes = self.runtimes
        if len(runtimes) == 1:
            due = runtimes[0].schedule.next_tick
        else:
            due = min(d.schedule.next_tick for d in runtimes)
        self.ticker.call_at(due, self.on_tick)

    def stop(self) -> None:
        """The driver stops: whatever is still in flight is dropped, its lock given back."""
        self.stopped = True
        if self.dev is not None:
            self.dev = None
            self.bus.lock.release()

    # -- callbacks ------------------------------------------------------------------------
    def on_tick(self, tick: int) -> None:
        if self.stopped:
            return
        try:
            # the clock fires for ``tick`` when its step is reached, at most a timer's
            # rounding before the loop's clock says so: the devices due then are due
            self.now_tick = max(current_tick(self.loop.time()), tick)
            self.pos = 0
            self.proceed()
        except Exception as err:  # raised on the driver's worker task instead
            self.owner.hand_off(err)

    def replied(self, attempt: InFlight, function_code: int,
                registers: tuple[int, ...]) -> None:
        """A whole, good register reply to the read in flight (``TcpLink.data_received``)."""
        dev = self.dev
        if dev is None or self.stopped:
            return
        try:
            i = self.index
            req = dev.requests[i]
            if function_code != req.function_code or len(registers) != req.count:
                # the task's path says what is wrong with it
                attempt.refuse(function_code, registers, dev.pdus[i].dev_id)
                return
            if not dev.take(i, registers, self.out):
                self.clean = False
            i += 1
            if i < len(dev.requests):
                self.index = i
                self.bus.send_planned(dev.pdus[i], dev.tails[i], dev.timeout, self, self.ticker)
                return
            out = self.out
            if dev.status_bits:
                out, faults = dev.settle(out)
                if faults is not None:
                    self.clean = False
            if not self.clean:
                dev.count_quality(out)
            self.dev, self.out = None, _IDLE
            self.bus.lock.release()
            self.owner.polled(dev, out, self.started)
            self.proceed()
        except Exception as err:  # raised on the driver's worker task instead
            self.owner.hand_off(err)

    def ended(self, attempt: InFlight) -> None:
        """The read in flight ended otherwise: the driver's worker task carries the poll on."""
        dev = self.dev
        if dev is None or self.stopped:
            return
        self.dev = None
        self.owner.hand_off(Resume(dev, self.index, self.out, attempt, self.started))
        self.out = _IDLE

    # -- the pass over the devices due ----------------------------------------------------
    def proceed(self) -> None:
        """Poll the rest of the devices due at ``now_tick``, in order; then wait for the next.

        A device this cycle cannot poll goes to the driver's worker task, which calls
        ``proceed`` again when it has polled it.
        """
        runtimes, bus = self.runtimes, self.bus
        while self.pos < len(runtimes):
            dev = runtimes[self.pos]
            self.pos += 1
            if dev.schedule.next_tick > self.now_tick:
                continue
            if dev.scheduled_fast and bus.can_send_planned() and bus.lock.try_acquire():
                self.dev, self.index, self.started = dev, 0, time.perf_counter()
                self.out, self.clean = dev.begin(), True
                bus.send_planned(dev.pdus[0], dev.tails[0], dev.timeout, self, self.ticker)
            else:
                self.owner.hand_off(dev)
            return
        self.owner.cycle_done()
        if not self.stopped:
            self.arm()
