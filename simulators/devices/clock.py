"""Simulated time: real time, accelerated time, or time that only moves when told.

Every model reads the time from one clock so that a scenario can run a day of
cleanroom life in minutes and a test can step it exactly. Times are Unix
seconds (UTC) as floats.
"""

from __future__ import annotations

import time


class SimClock:
    """Wall-clock time, optionally ``speed`` times faster from the moment it starts."""

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        self._speed = speed
        self._origin_real = time.monotonic()
        self._origin_sim = time.time() if start is None else start

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> float:
        return self._origin_sim + (time.monotonic() - self._origin_real) * self._speed

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on without a jump."""
        self._origin_sim, self._origin_real = self.now(), time.monotonic()
        self._speed = speed

    def real_seconds(self, sim_seconds: float) -> float:
        """How long ``sim_seconds`` of simulated time take in real time."""
        return sim_seconds / self._speed if self._speed > 0 else float("inf")


class ManualClock(SimClock):
    """A clock that only moves when ``advance`` is called (tests)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        super().__init__(speed=0.0, start=start)
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def set(self, when: float) -> None:
        self._now = when

    def set_speed(self, speed: float) -> None:  # a manual clock has no speed
        raise TypeError("a ManualClock moves only with advance()")
