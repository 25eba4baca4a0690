"""The engine's runtime tables: channels, devices, locations, and alarm points made on demand.

A site of 2,000 devices has some 64,000 alarm points, nearly all of them
normal nearly all of the time. A normal point whose condition is idle (not
active, no delay running, no n-of-m hit in its window) holds nothing a fresh
one would not, so it is not kept as an object: its channel or device keeps
the shared rule settings (``monitor.alarms.specs``) and the point and its
condition are made when something first needs them — a sample that would
start the condition, an operator action, an event in the log — and dropped
again by ``sweep`` once they are idle, normal, in service and not shelved.
Points that hold state of their own from the start (periodic checks, system
conditions, doors, points only the log knows) are *pinned*: made at once and
never dropped.

``Tables.points`` and ``Tables.conditions`` are mappings over every point of
the configuration; reading one of them by key makes it live. The engine
iterates ``live_points()`` / ``live_conditions()`` (in the configuration's
order, so that events of one tick come out in the same order as ever);
``point_rows()`` lists every point without making any (metrics).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from .channels import ChannelRt, DeviceRt
from .conditions import Condition, FlagRule, LocationRt, RateRule, ValueRule
from .events import AlarmState
from .points import ConditionMap, IdleRow, PointMap
from .specs import PointSpec
from .states import AlarmPoint, Emitter

if TYPE_CHECKING:
    from .location import LocationTracker

NS = 1_000_000_000
STALE, COMM, FAULT = -1, -2, -3  # slots of the lazily made health rules
COMM_RULE, FAULT_RULE, STALE_RULE = "comm_failure", "device_fault", "stale"
NORMAL = AlarmState.NORMAL
# configuration order of the points, by kind (see ``order``)
P_DEVICE, P_STALE, P_LIMIT, P_DOOR, P_CHECK, P_SYSTEM, P_LOG = range(7)


def order(phase: int, a: int, b: int = 0) -> int:
    """A point's place in the configuration: phase, then entry, then rule within it."""
    return (phase << 48) | (a << 8) | b


class Tables:
    """Runtime state of one configuration (see the module docstring)."""

    def __init__(self) -> None:
        self.channels: dict[str, ChannelRt] = {}
        #: per channel (by ``index_of``): configuration order of its limit entry (0: none)
        self.seqs = array("q")
        self.devices: dict[str, DeviceRt] = {}
        self.locations: dict[str, LocationRt] = {}
        self.trackers: dict[str, LocationTracker] = {}
        self.tracker_watch: dict[LocationTracker, None] = {}  # see LocationTracker
        self.maintenance: dict[str, int | None] = {}  # target -> until (None: open-ended)
        self.checked: dict[str, str] = {}  # points of periodic checks -> their device
        self.system: dict[str, FlagRule] = {}  # system conditions (monitor.alarms.system)
        self.lives: dict[str, AlarmPoint] = {}  # every live point (pinned ones included)
        self.conds: dict[str, Condition] = {}  # their conditions (a log-only point has none)
        self.pinned: set[str] = set()
        #: keys of lazily made points ``sweep`` may drop (a rate rule's window is state: never)
        self.refs: set[str] = set()
        self.stale_woken = False  # a stale point was made live: the tick looks at every channel
        #: the engine of these tables: a dormant stale condition made live starts through it
        self.emitter: Emitter | None = None
        self.points = PointMap(self)
        self.conditions = ConditionMap(self)
        self._pinned_order: list[str] = []
        self._sorted: list[AlarmPoint] | None = None
        self._sorted_conds: list[Condition] = []
        self._by_seq: list[ChannelRt] | None = None
        self._by_name: tuple[dict[str, list[DeviceRt]], dict[str, list[ChannelRt]]] | None = None

    # --- making and dropping points -------------------------------------------------------

    def pin(self, point: AlarmPoint, cond: Condition | None, phase: int) -> None:
        """A point kept for good (checks, doors, system conditions, points only the log has)."""
        point.order = order(phase, len(self._pinned_order))
        self._pinned_order.append(point.key)
        self.lives[point.key] = point
        if cond is not None:
            self.conds[point.key] = cond
        self.pinned.add(point.key)
        self._sorted = None

    def reorder(self) -> None:
        """The set of live conditions changed outside ``pin``/``_make``/``sweep``."""
        self._sorted = None

    def lookup(self, key: str) -> tuple[ChannelRt | DeviceRt, int] | None:
        """Where a configured, lazily made point lives: (channel or device, slot)."""
        owner, _, rule = key.rpartition(":")
        ch = self.channels.get(owner)
        if ch is not None:
            if rule == STALE_RULE and ch.stale_spec is not None:
                return ch, STALE
            i = ch.rs.rule_index(rule)
            return None if i is None else (ch, i)
        dev = self.devices.get(owner)
        if dev is not None:
            if rule == COMM_RULE and dev.comm_spec is not None:
                return dev, COMM
            if rule == FAULT_RULE and dev.fault_spec is not None:
                return dev, FAULT
        return None

    def index_of(self, ch: ChannelRt) -> int:
        """A channel's place in the configuration (in ``channels``), found through its device
        (``DeviceRt.first``): it is asked when a point is made, not per reading."""
        dev = ch.kind.device
        pos = dev.channels.index(ch)
        indexes = dev.indexes
        return dev.first + pos if indexes is None else indexes[pos]

    def declared(self, key: str) -> bool:
        return key in self.lives or self.lookup(key) is not None

    def point(self, key: str) -> AlarmPoint | None:
        found = self.lives.get(key)
        if found is not None:
            return found
        where = self.lookup(key)
        if where is None:
            return None
        return self._make(*where).point

    def condition(self, key: str) -> Condition | None:
        found = self.conds.get(key)
        if found is not None or key in self.pinned:
            return found
        where = self.lookup(key)
        return None if where is None else self._make(*where)

    def wake(self, ch: ChannelRt, i: int) -> ValueRule | RateRule:
        """Rule ``i`` of a channel, made live."""
        live = ch.live
        found = None if live is None else live[i]
        return found or self._make(ch, i)  # type: ignore[return-value]

    def wake_stale(self, ch: ChannelRt) -> FlagRule:
        """The stale rule of a channel, made live (a dormant one with its delay running)."""
        stale = ch.stale
        if isinstance(stale, FlagRule):
            return stale
        return self._make(ch, STALE)  # type: ignore[return-value]

    def wake_dormant(self) -> None:
        """Make every dormant stale condition live (before a clock step moves the timers)."""
        for ch in [c for c in self.channels.values() if isinstance(c.stale, int)]:
            self._make(ch, STALE)

    def wake_comm(self, dev: DeviceRt) -> FlagRule:
        return dev.comm or self._make(dev, COMM)  # type: ignore[return-value]

    def wake_fault(self, dev: DeviceRt) -> FlagRule:
        return dev.fault or self._make(dev, FAULT)  # type: ignore[return-value]

    def _spec(self, owner: ChannelRt | DeviceRt, slot: int) -> tuple[PointSpec, str]:
        """(spec, key) of a slot."""
        if isinstance(owner, DeviceRt):
            spec = owner.comm_spec if slot == COMM else owner.fault_spec
            assert spec is not None
            return spec, f"{owner.name}:{spec.rule}"
        if slot == STALE:
            assert owner.stale_spec is not None
            return owner.stale_spec, f"{owner.id}:{STALE_RULE}"
        rule = owner.rs.specs[slot]
        return rule, f"{owner.id}:{rule.rule}"

    def _place(self, owner: ChannelRt | DeviceRt, slot: int) -> int:
        """The order of a slot's point (see ``order``)."""
        if isinstance(owner, DeviceRt):
            return order(P_DEVICE, owner.index, -slot)
        if slot == STALE:
            return order(P_STALE, self.index_of(owner))
        return order(P_LIMIT, self.seqs[self.index_of(owner)], slot)

    def _make(self, owner: ChannelRt | DeviceRt, slot: int) -> Condition:
        spec, key = self._spec(owner, slot)
        place = self._place(owner, slot)
        dormant: int | None = None
        if isinstance(owner, DeviceRt):
            point = spec.point(key, owner.name, owner.name, owner.location)
            loc = self.locations[owner.location]
        else:
            point = spec.point(key, owner.id, owner.device.name, owner.loc.name)
            loc = owner.loc
        point.order = place
        point.suppressed = self.in_maintenance(point)
        cond = spec.condition(point, loc)  # type: ignore[attr-defined]
        if isinstance(owner, DeviceRt):
            if slot == COMM:
                owner.comm = cond
                for ch in owner.channels:
                    ch.refresh()
            else:
                owner.fault = cond
        elif slot == STALE:
            if isinstance(owner.stale, int):  # its delay runs: start it as the tick would have
                dormant = owner.stale
            else:  # a new watch for the stale scan (a dormant one is on it)
                self.stale_woken = True
            owner.stale = cond
            owner.refresh()
        else:
            if isinstance(cond, ValueRule):
                cond.doors = owner.suppressors
            if owner.live is None:
                owner.live = [None] * len(owner.rs.specs)
            owner.live[slot] = cond
            owner.refresh()
        self.lives[key] = point
        self.conds[key] = cond
        if not isinstance(cond, RateRule):
            self.refs.add(key)
        self._sorted = None
        if dormant is not None:
            assert self.emitter is not None, "a dormant condition needs the engine"
            assert isinstance(cond, FlagRule)
            assert isinstance(owner, ChannelRt)
            cond.set(self.emitter, dormant, True, (owner.kind.stale_ns + cond.on_ns) / NS)
        return cond  # type: ignore[no-any-return]

    def sweep(self) -> int:
        """Drop the lazily made points that hold nothing a fresh one would not; how many."""
        idle = [key for key in self.refs if _idle(self.lives[key], self.conds[key])]
        for key in idle:
            self.refs.remove(key)
            where = self.lookup(key)
            assert where is not None
            owner, slot = where
            del self.lives[key], self.conds[key]
            if isinstance(owner, DeviceRt):
                if slot == COMM:
                    owner.comm = None
                    for ch in owner.channels:
                        ch.refresh()
                else:
                    owner.fault = None
            elif slot == STALE:
                owner.stale = None
                owner.refresh()
            else:
                live = owner.live
                assert live is not None
                live[slot] = None
                if not any(live):
                    owner.live = None
                    owner.refresh()
        if idle:
            self._sorted = None
        return len(idle)

    def in_maintenance(self, point: AlarmPoint) -> bool:
        m = self.maintenance
        return bool(m) and (point.location in m or point.device in m or point.channel in m)

    # --- reading ---------------------------------------------------------------------------

    def live_points(self) -> list[AlarmPoint]:
        """Live points in configuration order (a list: safe to change the tables meanwhile)."""
        if self._sorted is None:
            self._sorted = sorted(self.lives.values(), key=_order)
            conds = self.conds
            self._sorted_conds = [c for p in self._sorted if (c := conds.get(p.key)) is not None]
        return self._sorted

    def live_conditions(self) -> list[Condition]:
        """Live conditions in configuration order (a list: safe to change the tables meanwhile)."""
        self.live_points()
        return self._sorted_conds

    def _channels_by_seq(self) -> list[ChannelRt]:
        if self._by_seq is None:
            chans = list(self.channels.values())  # by index (``index_of``)
            ranked = sorted((i for i, c in enumerate(chans) if c.rs.specs),
                            key=self.seqs.__getitem__)
            self._by_seq = [chans[i] for i in ranked]
        return self._by_seq

    def _lazy(self) -> Iterator[tuple[ChannelRt | DeviceRt, int]]:
        """Every lazily made point's slot, in configuration order."""
        for dev in self.devices.values():
            if dev.comm_spec is not None:
                yield dev, COMM
            if dev.fault_spec is not None:
                yield dev, FAULT
        for ch in self.channels.values():
            if ch.stale_spec is not None:
                yield ch, STALE
        for ch in self._channels_by_seq():
            for i in range(len(ch.rs.specs)):
                yield ch, i

    def catalog(self) -> Iterator[tuple[str, bool]]:
        """(key, has a condition) of every point, configured ones first, in order."""
        for owner, slot in self._lazy():
            yield self._spec(owner, slot)[1], True
        for key in self._pinned_order:
            yield key, key in self.conds

    def count(self) -> int:
        n = len(self.pinned)
        for dev in self.devices.values():
            n += (dev.comm_spec is not None) + (dev.fault_spec is not None)
        for ch in self.channels.values():
            n += (ch.stale_spec is not None) + len(ch.rs.specs)
        return n

    def point_rows(self) -> Iterator[AlarmPoint | IdleRow]:
        """Every point, live ones as they are and idle ones as rows; makes none live."""
        lives = self.lives
        for owner, slot in self._lazy():
            spec, key = self._spec(owner, slot)
            live = lives.get(key)
            if live is not None:
                yield live
            else:
                yield self._row(owner, spec, key)
        for key in self._pinned_order:
            yield lives[key]

    def _row(self, owner: ChannelRt | DeviceRt, spec: PointSpec, key: str) -> IdleRow:
        if isinstance(owner, DeviceRt):
            channel, device, location = owner.name, owner.name, owner.location
        else:
            channel, device, location = owner.id, owner.device.name, owner.loc.name
        m = self.maintenance
        suppressed = bool(m) and (location in m or device in m or channel in m)
        return IdleRow(key, spec, channel, location, suppressed)

    def idle_in_maintenance(self) -> list[AlarmPoint]:
        """Fresh copies of the idle points under maintenance (listed as suppressed)."""
        if not self.maintenance:
            return []
        devices: dict[str, DeviceRt] = {}
        channels: dict[str, ChannelRt] = {}
        for target in self.maintenance:
            if target in self.channels:
                channels[target] = self.channels[target]
            for dev in self._devices_under(target):
                devices[dev.name] = dev
            for ch in self._channels_under(target):
                channels[ch.id] = ch
        out = []
        for owner, slot in _slots(devices.values(), channels.values()):
            spec, key = self._spec(owner, slot)
            if key in self.lives:
                continue
            place = self._place(owner, slot)
            row = self._row(owner, spec, key)
            device = owner.name if isinstance(owner, DeviceRt) else owner.device.name
            point = spec.point(key, row.channel, device, row.location)
            point.suppressed, point.order = True, place
            out.append(point)
        return sorted(out, key=_order)

    def _devices_under(self, target: str) -> list[DeviceRt]:
        """The devices that are ``target`` or are at location ``target``."""
        at = self._index()[0].get(target, [])
        return [self.devices[target], *at] if target in self.devices else at

    def _channels_under(self, target: str) -> list[ChannelRt]:
        """The channels of device ``target`` or at location ``target``."""
        return self._index()[1].get(target, [])

    def _index(self) -> tuple[dict[str, list[DeviceRt]], dict[str, list[ChannelRt]]]:
        if self._by_name is None:
            devices: dict[str, list[DeviceRt]] = {}
            channels: dict[str, list[ChannelRt]] = {}
            for dev in self.devices.values():
                devices.setdefault(dev.location, []).append(dev)
            for ch in self.channels.values():
                channels.setdefault(ch.device.name, []).append(ch)
                channels.setdefault(ch.loc.name, []).append(ch)
            self._by_name = devices, channels
        return self._by_name

    def matching(self, target: str) -> list[AlarmPoint]:
        """Every point whose key, channel or device is ``target``, made live."""
        keys = []
        for owner, slot in self._lazy():
            key = self._spec(owner, slot)[1]
            if isinstance(owner, DeviceRt):
                hit = target in (key, owner.name)
            else:
                hit = target in (key, owner.id, owner.device.name)
            if hit:
                keys.append(key)
        out = [p for k in keys if (p := self.point(k)) is not None]
        out += [p for k in self._pinned_order
                if target in ((p := self.lives[k]).key, p.channel, p.device)]
        return sorted(out, key=_order)


def _slots(devices: Iterable[DeviceRt], channels: Iterable[ChannelRt]
           ) -> Iterator[tuple[ChannelRt | DeviceRt, int]]:
    for dev in devices:
        if dev.comm_spec is not None:
            yield dev, COMM
        if dev.fault_spec is not None:
            yield dev, FAULT
    for ch in channels:
        if ch.stale_spec is not None:
            yield ch, STALE
        for i in range(len(ch.rs.specs)):
            yield ch, i


def _order(point: AlarmPoint) -> int:
    return point.order


def _idle(point: AlarmPoint, cond: Condition) -> bool:
    """True when ``point`` and ``cond`` hold nothing that a freshly made pair would not.

    (A rate rule's window of samples is state: it is never in ``refs``.)
    """
    if point.state is not NORMAL or point.oos or point.shelved_until is not None:
        return False
    if cond.active or cond.pending_on is not None or cond.pending_off is not None:
        return False
    return not (isinstance(cond, ValueRule) and cond.bits)

