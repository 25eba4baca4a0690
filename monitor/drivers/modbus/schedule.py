"""Drift-free poll ticks on a shared 50 ms grid.

Every poll time is an absolute tick number ``k`` meaning ``k * GRID`` seconds
of the event loop's monotonic clock, never "now + interval", so a schedule
cannot drift. Because all connections use the same grid, polls that fall due
together wake the event loop once: the loop pops every timer with the same
deadline in one pass, which is what keeps thousands of devices cheap (the
wake-ups cost more than the Modbus exchange). Start times are spread by a
random whole number of grid steps (``start_jitter``) so that a site does not
hit every gateway at the same instant after a restart.
"""

from __future__ import annotations

import asyncio
import math
import random

GRID = 0.05


def ticks(seconds: float) -> int:
    """A duration in whole grid steps (at least one)."""
    return max(1, round(seconds / GRID))


def current_tick(loop_time: float) -> int:
    """The grid step ``loop_time`` falls in (tolerant of float error at step edges)."""
    return math.floor(loop_time / GRID + 1e-6)


def first_tick(loop_time: float, jitter: float, interval_ticks: int, rng: random.Random) -> int:
    spread = min(ticks(jitter) if jitter > 0 else 0, interval_ticks)
    return math.ceil(loop_time / GRID) + 1 + (rng.randrange(spread) if spread > 1 else 0)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def sleep_until_tick(tick: int) -> None:
    """Sleep to the absolute deadline ``tick * GRID`` (identical float for every caller)."""
    loop = asyncio.get_running_loop()
    when = tick * GRID
    if when <= loop.time():
        return
    future: asyncio.Future[None] = loop.create_future()
    handle = loop.call_at(when, _wake, future)
    try:
        await future
    finally:
        handle.cancel()


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
