"""What the engine keeps per device, channel and door contact, besides alarm points.

A channel holds its rule set (shared with every channel of the same limit
entry; ``monitor.alarms.specs``), the live conditions of those rules (None
while all are idle), its health timers and what its readings drive (location
inputs, door contacts). Devices hold the settings of their communication and
fault rules and, while they hold state, the rules themselves
(``monitor.alarms.table`` makes and drops them).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .conditions import Condition, DoorRt, FlagRule, LocationRt, RateRule, ValueRule
from .specs import EMPTY, FlagSpec, RuleSet

if TYPE_CHECKING:
    from .location import LocationTracker

NS = 1_000_000_000
INF = math.inf
MAX = sys.float_info.max  # a band within [-MAX, MAX] lets no NaN or infinity through


class DeviceRt:
    __slots__ = ("channels", "comm", "comm_spec", "fault", "fault_n", "fault_spec", "index",
                 "location", "name")

    def __init__(self, name: str, location: str, index: int = 0) -> None:
        self.name, self.location, self.index = name, location, index
        self.channels: list[ChannelRt] = []
        self.comm: FlagRule | None = None  # live only while it holds state
        self.fault: FlagRule | None = None
        self.comm_spec: FlagSpec | None = None  # None: health rules off for this device
        self.fault_spec: FlagSpec | None = None
        self.fault_n = 0  # channels whose latest reading reports a fault


class DoorInput:
    __slots__ = ("door", "held", "zero_means_open")

    def __init__(self, door: DoorRt, held: FlagRule | None, zero_means_open: bool) -> None:
        self.door, self.held, self.zero_means_open = door, held, zero_means_open


class ChannelRt:
    """One channel's rules and health state.

    ``lo``/``hi`` is the channel's *fast band*: a good float reading within it
    changes nothing but the channel's last-seen times, so the engine handles
    it without calling anything (``EngineCore._ingest``). It is the quiet band
    of the channel's rules in the location's current state while nothing of the
    channel holds state (no live rule, stale or communication point, no fault,
    every door contact closed, no location input), and empty otherwise;
    ``refresh`` recomputes it, and is called wherever one of those changes.
    """

    # what a reading within the fast band touches first: one cache line, not three
    __slots__ = ("last_ts", "lo", "hi", "last_good_ts",  # noqa: RUF023
                 "device", "doors", "faulted", "id", "index", "inputs", "live", "loc", "poll_ns",
                 "rs", "seq", "stale", "stale_ns", "stale_spec", "step_ns", "suppressors")

    def __init__(self, cid: str, device: DeviceRt, loc: LocationRt, stale_ns: int,
                 poll_ns: int = NS, *, step_ns: int = 5 * NS, index: int = 0) -> None:
        self.id, self.device, self.loc, self.stale_ns = cid, device, loc, stale_ns
        device.channels.append(self)
        loc.channels.append(self)
        self.lo, self.hi = INF, -INF  # empty until the engine starts (``refresh``)
        self.poll_ns = poll_ns
        # going back further than this is a step of the clock, not a reordered sample
        self.step_ns = step_ns
        self.index = index
        self.seq = 0  # configuration order of its limit entry
        self.rs: RuleSet = EMPTY
        #: the live conditions of ``rs.specs`` (None where idle), or None when none is live
        self.live: list[ValueRule | RateRule | None] | None = None
        self.suppressors: tuple[DoorRt, ...] = ()  # doors suppressing its value rules
        self.stale: FlagRule | None = None
        self.stale_spec: FlagSpec | None = None
        self.last_ts = -1
        self.last_good_ts = 0
        self.faulted = False
        self.inputs: tuple[LocationTracker, ...] = ()
        self.doors: tuple[DoorInput, ...] = ()

    def refresh(self) -> None:
        """Recompute the fast band (see the class docstring)."""
        if (self.live is not None or self.stale is not None or self.faulted or self.inputs
                or self.device.comm is not None):
            self.lo, self.hi = INF, -INF
            return
        lo, hi = self.rs.band[self.loc.state_idx]
        for d in self.doors:  # a closed contact stays closed while its value is 0
            if d.door.is_open or d.zero_means_open:
                self.lo, self.hi = INF, -INF
                return
            lo, hi = max(lo, 0.0), min(hi, 0.0)
        self.lo, self.hi = max(lo, -MAX), min(hi, MAX)

    def mute(self) -> None:
        """Empty the fast band: every reading takes the full path (``refresh`` undoes it)."""
        self.lo, self.hi = INF, -INF

    @property
    def rules(self) -> tuple[Condition, ...]:
        """The live conditions of its rules (idle ones are not objects)."""
        return tuple(c for c in self.live or () if c is not None)

    def limits_in_force(self) -> list[Mapping[str, Any]]:
        """Per value rule: the channel's four limits (state, unit, source) in the current state."""
        idx = self.loc.state_idx
        return [s.in_force[idx] for s in self.rs.specs if hasattr(s, "in_force")]

    def in_force_by_state(self) -> tuple[Mapping[str, Any], ...]:
        """The limits of its first value rule in both states (at rest, in operation)."""
        for spec in self.rs.specs:
            in_force = getattr(spec, "in_force", None)
            if in_force:
                return tuple(in_force)
        return ()
