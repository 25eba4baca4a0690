"""Steps of the host clock: told apart from reordered samples, and absorbed without losing time.

Every time in the engine is the host's UTC clock, so when NTP (or an operator)
steps that clock every channel's next reading jumps with it. A duplicate or a
reordered sample moves a channel back by less than a poll interval and is
ignored; a *step* moves everything at once and must not be: ignoring the
readings after a step back of one hour would leave every limit unevaluated
for that hour. What tells the two apart:

* **the monotonic clock** (exact; what the daemon uses): the service pairs
  every ``evaluate`` and ``tick`` with ``time.monotonic_ns``; when
  ``wall - monotonic`` moves by ``EXACT_STEP_NS`` or more, the host clock
  stepped by exactly that much, forward or back. It is seen before any
  reading stamped after the step is evaluated.
* without one (the pure engine driven by a fake clock): a ``tick`` whose time
  is ``TICK_STEP_NS`` or more behind the previous tick's, or readings that
  each go back by more than their channel's ``step_ns`` (max(5 s, 2 × poll
  interval)), at least two of them and from two devices (one on a one-device
  site). Such readings are *held* until the step is confirmed, then evaluated;
  if the next tick shows that the clock did not step, they were stamped wrong:
  ignored and counted. The step's size is estimated (the interval of the
  ticks or of the polls taken off the jump), exact when they are regular, at
  worst short by one interval. A forward jump cannot be told from time passing
  without the monotonic clock, so it is not detected in this mode.

On a step of ``d`` ns, ``reanchor`` moves every timer the engine decides with
by ``d``, so that an on-delay, an off-delay, a stale timer, a door's
suppression, a rate-of-change window, a clean-up period and a shelving,
maintenance or manual-state period keep measuring the time that really
passed. Times that are *records* (an excursion's first sample, its samples,
its peak) keep the stamps the readings store holds. Readings stamped on the
old side of the step but delivered after it (a poll in flight) are restamped
by ``d`` for evaluation during a short grace period (``Grace``: a quarter of
the step, at most a minute).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from monitor.model import Reading

from .conditions import RateRule

if TYPE_CHECKING:
    from .channels import ChannelRt
    from .table import Tables

NS = 1_000_000_000
STEP_MIN_NS = 5 * NS
"""A channel's reading this far behind its last one (or 2 poll intervals, if more) is no
reordered sample: the clock went back."""
EXACT_STEP_NS = 1 * NS
"""A change of ``wall - monotonic`` this large is a step (NTP slews at most 0.5 ms/s)."""
TICK_STEP_NS = STEP_MIN_NS
"""Without a monotonic clock: a tick this far behind the previous one is a step back."""
GRACE_MAX_NS = 60 * NS
"""How long after a step a reading stamped before it is still recognised (a poll in flight)."""
HELD_MAX = 100_000
"""Readings held at most while a step back waits for confirmation."""
CLOCK_POINT = "clock:daemon"


@dataclass(frozen=True, slots=True)
class Grace:
    """After a step of ``step`` ns seen at ``at``: readings stamped near ``at - step`` are late.

    ``half`` (a quarter of the step, at most ``GRACE_MAX_NS``) is both the
    half-width of that window and the grace's length, so that a reading of the
    new time cannot fall into the window before the grace is over: after a step
    back the window begins ``3 × half`` after the grace ends.
    """

    step: int
    at: int
    half: int

    @property
    def until(self) -> int:
        return self.at + self.half

    def late(self, ts: int) -> bool:
        """True for a time stamped on the old side of the step."""
        return -self.half < ts - (self.at - self.step) < self.half


@dataclass
class ClockWatch:
    """What the engine knows about its clock: the monotonic pairing, held readings, grace."""

    quorum_devices: int = 2
    offset: int | None = None  # wall - monotonic at the last observation
    grace: Grace | None = None
    held: list[Reading] = field(default_factory=list)
    held_devices: set[str] = field(default_factory=set)
    held_step: int | None = None  # the least negative step the held readings suggest
    held_at: int = 0
    tick_gap: int = 0  # between the last two ticks, when regular

    @property
    def exact(self) -> bool:
        """True once a monotonic clock is observed: only it decides what is a step."""
        return self.offset is not None

    def observe(self, wall_ns: int, mono_ns: int) -> int:
        """The step since the last observation (0 when none); ends a grace period that is over."""
        offset = wall_ns - mono_ns
        last, self.offset = self.offset, offset
        grace = self.grace
        if grace is not None and wall_ns >= grace.until:
            self.grace = None
        if last is None:
            return 0
        step = offset - last
        return step if step >= EXACT_STEP_NS or step <= -EXACT_STEP_NS else 0

    def begin_grace(self, step: int, at: int) -> None:
        self.grace = Grace(step, at, min(abs(step) // 4, GRACE_MAX_NS))

    def restamp(self, readings: Iterable[Reading]) -> tuple[Sequence[Reading], int]:
        """Readings with those stamped before the current step moved by it; how many were."""
        grace = self.grace
        assert grace is not None
        batch = readings if isinstance(readings, list) else list(readings)
        out: list[Reading] | None = None
        moved = 0
        over = False
        for i, r in enumerate(batch):
            ts = r.ts_ns
            if grace.late(ts):
                if out is None:
                    out = list(batch)
                out[i] = r._replace(ts_ns=ts + grace.step)
                moved += 1
            elif ts >= grace.until:
                over = True
        if over:
            self.grace = None
        return (batch if out is None else out), moved

    def restamp_time(self, ts: int) -> int:
        """A tick time read before the step, used after it; ends a grace period that is over."""
        grace = self.grace
        assert grace is not None
        if grace.late(ts):
            return ts + grace.step
        if ts >= grace.until:
            self.grace = None
        return ts

    def hold(self, ch: ChannelRt, r: Reading) -> bool:
        """Keep a reading that went back; True when enough of them confirm a step.

        A polled channel's reading comes a poll interval after its last one, so
        the step is its time less the last one's less that interval; a channel
        that reports less often suggests a smaller step, and the smallest wins
        (timers moved too little are at worst late, never early).
        """
        if len(self.held) >= HELD_MAX:
            return False
        step = r.ts_ns - ch.last_ts - ch.poll_ns
        self.held.append(r)
        self.held_devices.add(ch.device.name)
        if self.held_step is None or step > self.held_step:
            self.held_step = step
        self.held_at = max(self.held_at, r.ts_ns)
        return len(self.held) >= 2 and len(self.held_devices) >= self.quorum_devices

    def take_held(self) -> list[Reading]:
        held = self.held
        self.held, self.held_devices, self.held_step, self.held_at = [], set(), None, 0
        return held


def reanchor(t: Tables, maintenance: dict[str, int | None], step: int, *,
             exact: bool) -> dict[str, Any]:
    """Move every timer of the engine by ``step`` ns; what was moved, and the new expiries.

    A channel's last time moves too, so that a duplicate of its last reading
    is still one; after an estimated step it moves by a further ``step_ns``
    back, so that no reading of the new time base can be taken for an older
    one because the estimate was off by a poll interval.
    """
    timers = rate = doors = 0
    for ch in t.channels.values():
        if ch.last_ts >= 0:
            ch.last_ts += step if exact else step - ch.step_ns
        ch.last_good_ts += step
        for door_input in ch.doors:
            door = door_input.door
            door.open_since += step
            if door.suppress_until >= 0:
                door.suppress_until += step
            doors += 1
    for cond in t.live_conditions():  # an idle condition has no timer
        if cond.pending_on is not None:
            cond.pending_on += step
            timers += 1
        if cond.pending_off is not None:
            cond.pending_off += step
            timers += 1
        if isinstance(cond, RateRule):
            rate += cond.shift(step)
    shelved: dict[str, int] = {}
    for point in t.live_points():
        point.peak_logged += step
        if point.shelved_until is not None:
            point.shelved_until += step
            shelved[point.key] = point.shelved_until
    maint: dict[str, int] = {}
    for target, until in maintenance.items():
        if until is not None:
            maintenance[target] = maint[target] = until + step
    manual: dict[str, int] = {}
    for name, tracker in t.trackers.items():
        tracker.next_check_ns = 0  # the schedule follows the clock as it now reads
        if tracker.rest_pending_since is not None:
            tracker.rest_pending_since += step
            timers += 1
        m = tracker.manual
        if m is not None and m.until_ns is not None:
            tracker.manual = dataclasses.replace(m, until_ns=m.until_ns + step)
            manual[name] = m.until_ns + step
    return {
        "moved": {"channels": len(t.channels), "timers": timers, "rate_samples": rate,
                  "doors": doors},
        "expiries": {"shelved": shelved, "maintenance": maint, "manual": manual},
    }
