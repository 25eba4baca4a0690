"""Drift-free poll ticks on a shared 50 ms grid, and the one clock that wakes them.

Every poll time is an absolute tick number ``k`` meaning ``k * GRID`` seconds
of the event loop's monotonic clock, never "now + interval", so a schedule
cannot drift. Start times are spread by a random whole number of grid steps
(``start_jitter``) so that a site does not hit every gateway at the same
instant after a restart; ``start_phases`` limits those offsets to a few spread
evenly over the window, so that more polls share each wake-up.

At thousands of devices the wake-ups cost more than the Modbus exchange: a
timer per device per poll is a ``TimerHandle``, a heap push and pop with
Python-level comparisons and a callback, and pymodbus adds a second timer per
request for its timeout. ``TickClock`` (one per event loop, shared by every
Modbus connection of the daemon) therefore keeps, for each grid tick, the
connections' poll cycles to call then (``call_at``; ``wait`` for a task parked
until it), and arms a single loop timer for the earliest: the polls due
together are started by one wake-up. Request
timeouts are kept the same way on a finer step (``STEP``, 5 ms): a request is
never abandoned before its configured timeout and at most 5 ms after it, and
the requests sent in one burst share a handful of expiry passes instead of a
timer each.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import random
from collections.abc import Callable
from typing import Protocol

GRID = 0.05
STEP_PER_TICK = 10
STEP = GRID / STEP_PER_TICK  # resolution of request timeouts


def ticks(seconds: float) -> int:
    """A duration in whole grid steps (at least one)."""
    return max(1, round(seconds / GRID))


def current_tick(loop_time: float) -> int:
    """The grid step ``loop_time`` falls in (tolerant of float error at step edges)."""
    return math.floor(loop_time / GRID + 1e-6)


def first_tick(
    loop_time: float, jitter: float, interval_ticks: int, rng: random.Random,
    phases: int | None = None,
) -> int:
    """The first poll: a random whole step within ``jitter`` (and within one interval).

    With ``phases``, only that many offsets spread evenly over the window are
    used: every connection whose first poll falls on the same phase wakes with
    the others at one tick, so a second costs ``phases`` wake-ups instead of up
    to 20, while no phase carries more than about its share of the devices.
    """
    spread = min(ticks(jitter) if jitter > 0 else 0, interval_ticks)
    offset = 0
    if spread > 1:
        if phases is not None and phases < spread:
            offset = rng.randrange(phases) * spread // phases
        else:
            offset = rng.randrange(spread)
    return math.ceil(loop_time / GRID) + 1 + offset


class RequestTimeout(TimeoutError):
    """A request's deadline on the grid passed without a reply."""


class Expirable(Protocol):
    """A request's reply future, or anything answering the same two calls."""

    def done(self) -> bool: ...

    def set_exception(self, exception: BaseException, /) -> None: ...


class _Slot:
    __slots__ = ("callbacks", "deadlines", "waiters")

    def __init__(self) -> None:
        self.waiters: list[asyncio.Future[None]] = []
        self.deadlines: list[Expirable] = []
        self.callbacks: list[Callable[[int], None]] = []


class TickClock:
    """Wakes every task parked until a tick, and expires every request due then, at once.

    Slots are numbered in ``STEP``s of the loop's clock; grid tick ``k`` is step
    ``k * STEP_PER_TICK``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._slots: dict[int, _Slot] = {}
        self._heap: list[int] = []  # the steps in _slots
        self._timer: asyncio.TimerHandle | None = None
        self._armed = 0  # step of _timer
        #: timer callbacks run; with every device on one interval, one per interval
        self.wakeups = 0

    def _slot(self, step: int) -> _Slot:
        slot = self._slots.get(step)
        if slot is None:
            slot = self._slots[step] = _Slot()
            heapq.heappush(self._heap, step)
            if self._timer is None or step < self._armed:
                self._arm(step)
        return slot

    def _arm(self, step: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._armed = step
        self._timer = self._loop.call_at(step * STEP, self._fire)

    def wait(self, tick: int) -> asyncio.Future[None]:
        """A future done at ``tick * GRID`` (already done if that has passed); await it.

        Each caller gets its own future, so cancelling one parked task does not
        disturb the others waiting for the same tick.
        """
        loop = self._loop
        future: asyncio.Future[None] = loop.create_future()
        if tick * GRID <= loop.time():
            future.set_result(None)
        else:
            self._slot(tick * STEP_PER_TICK).waiters.append(future)
        return future

    def call_at(self, tick: int, callback: Callable[[int], None]) -> None:
        """Call ``callback(tick)`` from the timer that fires at ``tick * GRID`` (soon if that
        has passed): what a task parked until the tick would do, without the task.

        The callback runs inside the clock's pass over its due slots, so it must not
        raise (an error is passed to the loop's exception handler) and must not ask
        for a tick that is due by then.
        """
        loop = self._loop
        if tick * GRID <= loop.time():
            loop.call_soon(callback, tick)
        else:
            self._slot(tick * STEP_PER_TICK).callbacks.append(callback)

    def expire(self, future: Expirable, timeout: float) -> None:
        """Fail ``future`` with ``RequestTimeout`` if it is not done ``timeout`` s from now."""
        step = math.ceil((self._loop.time() + timeout) / STEP - 1e-6)
        self._slot(step).deadlines.append(future)

    def _fire(self) -> None:
        self._timer = None
        self.wakeups += 1
        now = max(math.floor(self._loop.time() / STEP + 1e-6), self._armed)
        heap, slots = self._heap, self._slots
        while heap and heap[0] <= now:
            step = heapq.heappop(heap)
            slot = slots.pop(step)
            for deadline in slot.deadlines:
                if not deadline.done():
                    deadline.set_exception(RequestTimeout())
            for waiter in slot.waiters:
                if not waiter.done():
                    waiter.set_result(None)
            if slot.callbacks:
                tick = step // STEP_PER_TICK
                for callback in slot.callbacks:
                    try:
                        callback(tick)
                    except Exception as err:  # one must not stall the rest
                        self._loop.call_exception_handler(
                            {"message": "tick callback failed", "exception": err})
        if heap:
            self._arm(heap[0])


# A clock's timer and futures refer to its loop, so a weak registry would never let go of
# either; instead the clocks of closed loops (tests run a loop each) are dropped whenever
# a new loop asks for its clock.
_CLOCKS: dict[asyncio.AbstractEventLoop, TickClock] = {}


def clock() -> TickClock:
    """The running event loop's tick clock (made on first use)."""
    loop = asyncio.get_running_loop()
    found = _CLOCKS.get(loop)
    if found is None:
        for closed in [other for other in _CLOCKS if other.is_closed()]:
            del _CLOCKS[closed]
        found = _CLOCKS[loop] = TickClock(loop)
    return found


async def sleep_until_tick(tick: int) -> None:
    """Sleep to the absolute deadline ``tick * GRID`` on the shared clock."""
    await clock().wait(tick)


class DeviceSchedule:
    """When one device is next due, with overrun counting and capped backoff."""

    __slots__ = ("backoff_max", "failures", "interval", "next_tick", "overruns")

    def __init__(self, interval_ticks: int, start: int, backoff_max_ticks: int) -> None:
        self.interval = interval_ticks
        self.next_tick = start
        self.backoff_max = max(backoff_max_ticks, interval_ticks)
        self.failures = 0
        self.overruns = 0

    def advance(self, now_tick: int, failed: bool) -> int:
        """Move past the poll just done; returns the ticks skipped because it overran."""
        due = self.next_tick + self.interval
        skipped = 0
        if due <= now_tick:  # the poll ran into its next tick(s): skip them, never queue
            skipped = (now_tick - due) // self.interval + 1
            due += skipped * self.interval
            self.overruns += skipped
        if failed:
            self.failures += 1
            wait = min(self.interval << min(self.failures - 1, 20), self.backoff_max)
            if wait > self.interval:
                due += -(-(wait - self.interval) // self.interval) * self.interval
        else:
            self.failures = 0
        self.next_tick = due
        return skipped
