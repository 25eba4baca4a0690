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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from .channels import ChannelRt

SLICE = 256
NEVER = math.inf
NOW = -math.inf


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
                        due = ch.last_good_ts + ch.stale_ns
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
                    due = ch.last_good_ts + ch.stale_ns
                    if due > now:
                        if due < bound:  # noqa: PLR1730
                            bound = due
                        continue
                keep.append(ch)
            watch[i] = keep
            bounds[i] = bound
