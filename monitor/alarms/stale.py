"""Which channels the one-second tick must look at for stale data, without looking at all.

A channel goes stale ``stale_ns`` after its last good reading. Checking all
20,000 channels of a 2,000-device site every second finds nothing nearly
every time, so the channels are kept in slices, and each slice remembers the
earliest time any of its quiet channels can come due (its *bound*); a slice
is scanned again only once the tick reaches that time. Channels that need a
look at every tick are kept in the slice's *watch* list until they are quiet
again: a stale point that is live (pending, active, shelved, out of service),
a channel past its time (e.g. while its device's communication alarm holds
the stale alarm back), and a channel whose next reading could move its last
good time *back* (not read since the start or since a clock step: its
``last_ts`` is before ``last_good_ts``).

Why the bound is exact: a quiet channel's last good time only grows until
the next scan (a reading is accepted only after ``last_ts``, which is at or
after ``last_good_ts``), so its due time only moves later; only a clock step
moves it back, and a step makes every slice scan (``reset``). A stale point
made live outside the tick (an operator action) does too (``Tables.stale_woken``).
Slices and channels are visited in configuration order, so the events of a
tick come out in the same order as when every channel was checked.

*Dormant* stale conditions: when a whole site stops reporting (a start-up
before the first polls, a network outage) every channel goes stale at once,
and a live point and condition each (~800 bytes) would make ~16 MB at
2,000 devices. While a stale condition's on-delay merely runs, it holds
nothing but the time it started, so the fast engine keeps only that time in
``ChannelRt.stale`` (``check_stale``) and makes the rule live, started at
that time exactly as the tick would have started it, as soon as anything
else could happen to it: its delay is due (then the tick's timers raise it
in point order, as any other), its device's communication alarm is active,
a reading arrives after the delay was due (``settle``), an operator or the
event log asks for the point, or the clock steps (``Tables.wake_dormant``).
A reading before the delay is due ends it silently, as it would end the
live one. The property tests drive the fast engine (dormant) and the full
engine (never dormant) and compare every event.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .channels import ChannelRt
from .conditions import FlagRule

if TYPE_CHECKING:
    from .core import EngineCore
    from .table import Tables

SLICE = 256
NEVER = math.inf
NOW = -math.inf
NS = 1_000_000_000


def check_stale(em: EngineCore, ch: ChannelRt, now: int) -> None:
    """Start or end a channel's stale condition at the tick ``now``."""
    t = em.t
    stale = ch.stale  # None while idle, an int while dormant (see the module docstring)
    if isinstance(stale, int):
        comm = ch.kind.device.comm
        if comm is not None and comm.active:  # the comm failure says it already
            t.wake_stale(ch).set(em, now, False)
        elif stale + ch.kind.stale_spec.on_ns <= now:  # type: ignore[union-attr]
            t.wake_stale(ch)  # due: the tick's timers raise it, as any other, in point order
        return
    if stale is not None and (stale.active or stale.point.oos):
        return
    comm = ch.kind.device.comm
    if comm is not None and comm.active:  # the comm failure says it already
        if stale is not None and stale.pending_on is not None:
            stale.set(em, now, False)
        return
    if stale is None or stale.pending_on is None:
        became = ch.last_good_ts + ch.kind.stale_ns
        if now >= became:
            spec = ch.kind.stale_spec
            assert spec is not None
            if stale is None and em.fast and became + spec.on_ns > now:
                ch.stale = became  # dormant: its delay runs and nothing else can happen yet
                ch.refresh()
                return
            t.wake_stale(ch).set(em, became, True, (ch.kind.stale_ns + spec.on_ns) / NS)


def settle(t: Tables, ch: ChannelRt, since: int, ts: int) -> FlagRule | None:
    """A reading at ``ts`` of a channel whose stale condition is dormant since ``since``:
    the live rule when its delay was due before ``ts`` (which raises and ends it, as it
    would have), else None, the condition ended."""
    spec = ch.kind.stale_spec
    assert spec is not None
    if since + spec.on_ns < ts:
        return t.wake_stale(ch)
    ch.stale = None
    ch.refresh()
    return None


class StaleScan:
    def __init__(self, channels: Sequence[ChannelRt], size: int = SLICE) -> None:
        self.slices = [list(channels[i:i + size]) for i in range(0, len(channels), size)]
        self.bounds: list[float] = [NOW] * len(self.slices)
        self.watch: list[list[ChannelRt]] = [[] for _ in self.slices]
        self.scanned = 0  # channels looked at by full scans (for tests and benchmarks)

    def reset(self) -> None:
        """Scan every slice at the next tick (a clock step moved every last good time)."""
        self.bounds = [NOW] * len(self.slices)

    def run(self, now: int, check: Callable[[ChannelRt, int], None]) -> None:
        """``check(ch, now)`` every channel that may need it, in configuration order."""
        bounds, watch = self.bounds, self.watch
        for i, chans in enumerate(self.slices):
            bound = bounds[i]
            if now >= bound:
                self.scanned += len(chans)
                cands = []
                bound = NEVER
                for ch in chans:
                    if ch.stale is None and ch.last_ts >= ch.last_good_ts:
                        due = ch.last_good_ts + ch.kind.stale_ns
                        if due > now:
                            if due < bound:  # noqa: PLR1730 (no call per channel)
                                bound = due
                            continue
                    cands.append(ch)
            else:
                cands = watch[i]
                if not cands:
                    continue
            keep = []
            for ch in cands:
                check(ch, now)
                if ch.stale is None and ch.last_ts >= ch.last_good_ts:
                    due = ch.last_good_ts + ch.kind.stale_ns
                    if due > now:
                        if due < bound:  # noqa: PLR1730
                            bound = due
                        continue
                keep.append(ch)
            watch[i] = keep
            bounds[i] = bound
