"""What the engine keeps per device, channel and door contact, besides alarm points.

A channel holds its rule set (shared with every channel of the same limit
entry; ``monitor.alarms.specs``), the live conditions of those rules (None
while all are idle), its last-seen times and fast band, and its ``kind``:
the settings it shares with the other channels of its device (device,
location, poll and clock-step timers, stale rule, location inputs, door
contacts), one object per distinct set. Devices hold the settings of their
communication and fault rules and, while they hold state, the rules
themselves (``monitor.alarms.table`` makes and drops them).

Memory at 2,000 devices (20,000 channels, tracemalloc after ``build_tables``):
8.1 MB with every setting a slot of each channel, 5.2 MB with kinds. A channel
is 112 bytes (pymalloc rounds to 16): its stale timeout is its kind's and its
place in the configuration is its device's (``DeviceRt.first``), not an int
object of its own (128 bytes and a 32-byte int each before).
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .conditions import Condition, DoorRt, FlagRule, LocationRt, RateRule, ValueRule
from .specs import EMPTY, FlagSpec, RuleSet

if TYPE_CHECKING:
    from .location import LocationTracker

NS = 1_000_000_000
INF = math.inf
NEG_INF = -math.inf
MAX = sys.float_info.max  # a band within [-MAX, MAX] lets no NaN or infinity through
NEG_MAX = -MAX


class DeviceRt:
    __slots__ = ("channels", "comm", "comm_spec", "fault", "fault_n", "fault_spec", "first",
                 "index", "indexes", "location", "name")

    def __init__(self, name: str, location: str, index: int = 0) -> None:
        self.name, self.location, self.index = name, location, index
        self.channels: list[ChannelRt] = []
        #: the configuration order of its channels (``Tables.index_of``): ``first`` and the
        #: ones after it, unless they are not consecutive: then each one's in ``indexes``
        self.first = 0
        self.indexes: array[int] | None = None
        self.comm: FlagRule | None = None  # live only while it holds state
        self.fault: FlagRule | None = None
        self.comm_spec: FlagSpec | None = None  # None: health rules off for this device
        self.fault_spec: FlagSpec | None = None
        self.fault_n = 0  # channels whose latest reading reports a fault


class DoorInput:
    __slots__ = ("door", "held", "zero_means_open")

    def __init__(self, door: DoorRt, held: FlagRule | None, zero_means_open: bool) -> None:
        self.door, self.held, self.zero_means_open = door, held, zero_means_open


class ChannelKind:
    """What the channels of one device share: device, location, timers, inputs, doors.

    A site of 2,000 devices has 20,000 channels whose settings are a few
    thousand distinct values; one object per distinct set (interned by
    ``monitor.alarms.rules``) instead of nine slots per channel. Fixed once the
    tables are built: a channel whose doors, inputs or suppressors differ has a
    kind of its own.
    """

    __slots__ = ("device", "doors", "inputs", "loc", "poll_ns", "stale_ns", "stale_spec",
                 "step_ns", "suppressors")

    def __init__(self, device: DeviceRt, loc: LocationRt, poll_ns: int = NS, *,
                 step_ns: int = 5 * NS, stale_ns: int = 0, stale_spec: FlagSpec | None = None,
                 doors: tuple[DoorInput, ...] = (), inputs: tuple[LocationTracker, ...] = (),
                 suppressors: tuple[DoorRt, ...] = ()) -> None:
        self.device, self.loc, self.poll_ns, self.step_ns = device, loc, poll_ns, step_ns
        # going back further than ``step_ns`` is a step of the clock, not a reordered sample
        self.stale_ns = stale_ns  # a channel is stale this long after its last good reading
        self.stale_spec = stale_spec  # None: no stale rule
        self.doors = doors  # door contacts this channel reads
        self.inputs = inputs  # locations whose state this channel drives
        self.suppressors = suppressors  # doors suppressing its value rules

    def key(self) -> tuple[Any, ...]:
        """Equal keys, equal kinds (the objects in it compare by identity)."""
        return (self.device, self.loc, self.poll_ns, self.step_ns, self.stale_ns, self.stale_spec,
                self.doors, self.inputs, self.suppressors)

    def but(self, **changes: Any) -> ChannelKind:
        """A copy with ``changes`` (the builder interns it)."""
        fields = {"stale_spec": self.stale_spec, "doors": self.doors, "inputs": self.inputs,
                  "suppressors": self.suppressors, "step_ns": self.step_ns,
                  "stale_ns": self.stale_ns, **changes}
        return ChannelKind(self.device, self.loc, self.poll_ns, **fields)


class ChannelRt:
    """One channel's rules and health state.

    ``lo``/``hi`` is the channel's *fast band*: a good float reading within it
    changes nothing but the channel's last-seen times, so the engine handles
    it without calling anything (``EngineCore._ingest``). It is the quiet band
    of the channel's rules in the location's current state while nothing of the
    channel holds state (no live rule, stale or communication point, no fault,
    every door contact closed, no location input), and empty otherwise;
    ``refresh`` recomputes it, and is called wherever one of those changes.

    Only what differs between channels is kept per channel (20,000 of them at
    2,000 devices): the rest is the channel's shared ``kind`` (its stale timeout
    too); its place in the configuration is ``Tables.index_of``, and its limit
    entry's configuration order is in ``Tables.seqs``.
    """

    # what a reading within the fast band touches first: one cache line
    __slots__ = ("last_ts", "lo", "hi", "last_good_ts",  # noqa: RUF023
                 "faulted", "id", "kind", "live", "rs", "stale")

    def __init__(self, cid: str, kind: ChannelKind) -> None:
        self.id, self.kind = cid, kind
        kind.device.channels.append(self)
        kind.loc.channels.append(self)
        self.lo, self.hi = INF, NEG_INF  # empty until the engine starts (``refresh``)
        self.rs: RuleSet = EMPTY
        #: the live conditions of ``rs.specs`` (None where idle), or None when none is live
        self.live: list[ValueRule | RateRule | None] | None = None
        #: the live stale rule; while its delay runs untouched, only the time it started
        #: (``monitor.alarms.stale``: 20,000 channels going stale at once make no objects)
        self.stale: FlagRule | int | None = None
        self.last_ts = -1
        self.last_good_ts = 0
        self.faulted = False

    # the shared settings, read through the channel (the hot path reads ``kind`` once)
    @property
    def device(self) -> DeviceRt:
        return self.kind.device

    @property
    def loc(self) -> LocationRt:
        return self.kind.loc

    @property
    def poll_ns(self) -> int:
        return self.kind.poll_ns

    @property
    def step_ns(self) -> int:
        return self.kind.step_ns

    @property
    def stale_ns(self) -> int:
        return self.kind.stale_ns

    @property
    def stale_spec(self) -> FlagSpec | None:
        return self.kind.stale_spec

    @property
    def doors(self) -> tuple[DoorInput, ...]:
        return self.kind.doors

    @property
    def inputs(self) -> tuple[LocationTracker, ...]:
        return self.kind.inputs

    @property
    def suppressors(self) -> tuple[DoorRt, ...]:
        return self.kind.suppressors

    def refresh(self) -> None:
        """Recompute the fast band (see the class docstring)."""
        kind = self.kind
        if (self.live is not None or self.stale is not None or self.faulted or kind.inputs
                or kind.device.comm is not None):
            self.lo, self.hi = INF, NEG_INF
            return
        lo, hi = self.rs.band[kind.loc.state_idx]
        for d in kind.doors:  # a closed contact stays closed while its value is 0
            if d.door.is_open or d.zero_means_open:
                self.lo, self.hi = INF, NEG_INF
                return
            lo, hi = max(lo, 0.0), min(hi, 0.0)
        # module constants: ``-MAX`` here would make a float per channel
        self.lo, self.hi = max(lo, NEG_MAX), min(hi, MAX)

    def mute(self) -> None:
        """Empty the fast band: every reading takes the full path (``refresh`` undoes it)."""
        self.lo, self.hi = INF, NEG_INF

    @property
    def rules(self) -> tuple[Condition, ...]:
        """The live conditions of its rules (idle ones are not objects)."""
        return tuple(c for c in self.live or () if c is not None)

    def limits_in_force(self) -> list[Mapping[str, Any]]:
        """Per value rule: the channel's four limits (state, unit, source) in the current state."""
        idx = self.kind.loc.state_idx
        return [s.in_force[idx] for s in self.rs.specs if hasattr(s, "in_force")]

    def in_force_by_state(self) -> tuple[Mapping[str, Any], ...]:
        """The limits of its first value rule in both states (at rest, in operation)."""
        for spec in self.rs.specs:
            in_force = getattr(spec, "in_force", None)
            if in_force:
                return tuple(in_force)
        return ()
