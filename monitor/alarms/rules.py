"""The rule tables: everything the engine needs per channel, derived once from the config.

At build time each channel gets its rule set (shared with every channel whose
limit entry is the same; ``monitor.alarms.specs``), with limits already
resolved per location state (explicit value, else grade preset), so that
evaluating a normal reading is a dict lookup and two comparisons. The alarm
points and conditions themselves are made when first needed
(``monitor.alarms.table``).
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Mapping
from functools import partial
from operator import attrgetter
from typing import Any, cast

from monitor.config import ChannelInfo, LoadedConfig
from monitor.config.alarms import (
    PARTICLE_QUANTITIES,
    PARTICLE_UNITS,
    AlarmsConfig,
    DeviceHealthConfig,
    DoorConfig,
    LimitConfig,
)
from monitor.config.devices import DeviceConfig
from monitor.config.resident import PackedLimits

from .channels import ChannelKind, ChannelRt, DeviceRt, DoorInput
from .conditions import DoorRt, FlagRule, LocationRt
from .events import Level
from .flags import add_check_points
from .location import LocationTracker
from .presets import preset_limit
from .specs import STATES, FlagSpec, RuleSet, RuleSpec, SpecCache, resolve
from .states import AlarmPoint
from .system import add_system_points
from .table import P_DOOR, Tables
from .timebase import STEP_MIN_NS

__all__ = ["STATES", "ChannelRt", "DeviceRt", "DoorInput", "Tables", "build_tables",
           "describe", "point_key", "resolve"]

NS = 1_000_000_000
DP_QUANTITY = "differential_pressure"
#: a channel's poll interval, clock-step bound and stale timeout (ns), and its stale rule
Timing = tuple[int, int, int, FlagSpec | None]


def point_key(channel: str, rule: str) -> str:
    return f"{channel}:{rule}"


class _Builder:
    """One build: the tables, the shared settings, and the order limit entries came in."""

    def __init__(self, loaded: LoadedConfig) -> None:
        self.loaded = loaded
        self.t = Tables()
        self.cache = SpecCache()
        self.seq = 0
        self.presets: dict[Any, LimitConfig | None] = {}
        #: id of a limit entry's specs (kept by ``cache``) -> those specs and their rule set
        self.sets: dict[int, tuple[tuple[RuleSpec, ...], RuleSet]] = {}
        #: (device, poll interval) -> what its channels share (see ``_channel_timing``)
        self.timing: dict[tuple[str, float], ChannelKind] = {}
        #: (poll interval, particle counter) -> the timing of devices without health settings
        self.timings: dict[tuple[float, bool], Timing] = {}
        #: the communication and fault rules of devices without health settings, once made
        self.health: tuple[FlagSpec | None, FlagSpec | None] | None = None
        #: ``ChannelKind.key()`` -> the one kind of those settings
        self.kinds: dict[tuple[Any, ...], ChannelKind] = {}
        #: channel -> its place in the configuration, while building (``_index_devices``)
        self.index: dict[str, int] = {}

    def kind(self, kind: ChannelKind) -> ChannelKind:
        """The kind equal to ``kind`` already made, else ``kind``."""
        return self.kinds.setdefault(kind.key(), kind)

    def reshape(self, ch: ChannelRt, **changes: Any) -> None:
        """Give ``ch`` a kind with ``changes`` (doors, inputs, suppressors)."""
        ch.kind = self.kind(ch.kind.but(**changes))


def build_tables(loaded: LoadedConfig) -> Tables:
    cfg = loaded.config
    acfg = cfg.alarms
    b = _Builder(loaded)
    t = b.t
    for name, (_room, loc) in loaded.locations.items():
        rt = LocationRt(name, str(loc.state.default))
        t.locations[name] = rt
        t.trackers[name] = LocationTracker(rt, loc.state, cfg.site.timezone,
                                           index=len(t.trackers), watch=t.tracker_watch)
    enabled = {d.name: d for d in cfg.devices if d.enabled}
    for device in enabled.values():
        dev = DeviceRt(device.name, device.location, len(t.devices))
        t.devices[device.name] = dev
        _device_health(b, dev, acfg)
    # a channel's kind depends only on what its device's channels share (``DeviceInfo``):
    # worked out once for each, by its id (the config holds them all while this runs)
    kinds: dict[int, ChannelKind | None] = {}
    channels, index = t.channels, b.index
    for cid, info in loaded.channels.items():
        try:
            kind = kinds[id(info.device_info)]
        except KeyError:
            kind = kinds[id(info.device_info)] = _channel_kind(b, info, enabled, acfg)
        if kind is None:  # a disabled device's
            continue
        index[cid] = len(channels)
        channels[cid] = ChannelRt(cid, kind)
    t.seqs = array("q", bytes(8 * len(channels)))  # 0: no limit entry (yet)
    explicit: set[str] = set()
    if isinstance(acfg.limits, PackedLimits):
        _packed_limits(b, acfg.limits, explicit)
    else:
        for limits in acfg.limits.values():
            for limit in limits:
                _limit(b, limit, explicit)
    if acfg.auto_presets:
        for cid, info in loaded.channels.items():
            if cid in t.channels and cid not in explicit and (
                info.spec.quantity in PARTICLE_QUANTITIES and info.spec.unit in PARTICLE_UNITS
            ):  # a counter reporting per ft³ needs explicit limits: presets are per m³
                _auto_preset(b, info, acfg)
    for door in acfg.doors:
        _door(b, door)
    for name, (_room, loc) in loaded.locations.items():
        source = loc.state.input
        if source is not None and source in t.channels:
            ch = t.channels[source]
            b.reshape(ch, inputs=(*ch.kind.inputs, t.trackers[name]))
    add_check_points(t, loaded)
    add_system_points(t, loaded)
    _pack_channel_lists(t)
    _index_devices(t, b.index)
    return t


def _channel_kind(b: _Builder, info: ChannelInfo, enabled: Mapping[str, DeviceConfig],
                  acfg: AlarmsConfig) -> ChannelKind | None:
    """The kind of ``info``'s channel; None if its device is disabled."""
    device_cfg = enabled.get(info.device)
    if device_cfg is None:
        return None
    # the channels of a device mostly share their poll interval: work it out once
    kind = b.timing.get((info.device, info.poll_interval))
    if kind is None:
        kind = _channel_timing(b, info, acfg, device_cfg)
    if kind.loc.name != info.location:  # a channel placed apart from its device
        kind = b.kind(ChannelKind(kind.device, b.t.locations[info.location], kind.poll_ns,
                                  step_ns=kind.step_ns, stale_ns=kind.stale_ns,
                                  stale_spec=kind.stale_spec))
    return kind


def _index_devices(t: Tables, index: Mapping[str, int]) -> None:
    """Where each device's channels are in the configuration (``Tables.index_of``): after
    its first channel, one after another, the usual case; else each one's place."""
    for dev in t.devices.values():
        places = [index[ch.id] for ch in dev.channels]
        if places:
            dev.first = places[0]
            if places != list(range(places[0], places[0] + len(places))):
                dev.indexes = array("q", places)


def _pack_channel_lists(t: Tables) -> None:
    """Exact-size channel lists, and a location's list shared with its device when they hold
    the same channels (a location of one device, the usual case): 2,000 lists fewer. Both
    are only read once built (refresh of the fast bands)."""
    for dev in t.devices.values():
        dev.channels = dev.channels[:]
    for loc in t.locations.values():
        chans = loc.channels
        if chans:
            same = chans[0].kind.device.channels
            loc.channels = same if same == chans else chans[:]


def _channel_timing(b: _Builder, info: ChannelInfo, acfg: AlarmsConfig, device_cfg: DeviceConfig,
                    ) -> ChannelKind:
    """The kind (poll interval, clock-step bound, stale timeout and rule) of the channels of
    ``info``'s device with ``info``'s poll interval."""
    dh = acfg.health.devices.get(info.device)
    # without health settings of its own, a device's channels time as all others of their
    # interval and kind of device: worked out once for those (2,000 devices, a few timings)
    alike = None if dh is not None else (
        info.poll_interval, b.loaded.config.profiles[device_cfg.profile].kind == "particle_counter")
    timing = None if alike is None else b.timings.get(alike)
    if timing is None:
        timing = _timing(b, info, acfg, device_cfg, dh)
        if alike is not None:
            b.timings[alike] = timing
    poll_ns, step_ns, stale_ns, stale_spec = timing
    t = b.t
    dev = t.devices[info.device]
    kind = b.kind(ChannelKind(dev, t.locations[dev.location], poll_ns, step_ns=step_ns,
                              stale_ns=stale_ns, stale_spec=stale_spec))
    b.timing[(info.device, info.poll_interval)] = kind
    return kind


def _timing(b: _Builder, info: ChannelInfo, acfg: AlarmsConfig, device_cfg: DeviceConfig,
            dh: DeviceHealthConfig | None) -> Timing:
    """(poll interval, clock-step bound, stale timeout, stale rule) of ``info``'s channel."""
    num = b.cache.number
    interval = _expected_interval(b.loaded, info, acfg, device_cfg)
    k = (dh.stale_after_intervals if dh and dh.stale_after_intervals
         else acfg.health.stale_after_intervals)
    poll_ns = int(info.poll_interval * NS)
    stale_spec = None
    if acfg.health.enabled and (dh is None or dh.enabled):
        delay = dh.stale_delay if dh and dh.stale_delay is not None else acfg.health.stale_delay
        stale_spec = b.cache.flag("stale", str(acfg.health.priority), int(delay * NS),
                                  {"after_s": k * interval, "delay_s": delay},
                                  threshold=k * interval)
    return (num(poll_ns), num(max(STEP_MIN_NS, 2 * poll_ns)), num(int(k * interval * NS)),
            stale_spec)


def _expected_interval(loaded: LoadedConfig, info: ChannelInfo, acfg: AlarmsConfig,
                       device: DeviceConfig) -> float:
    dh = acfg.health.devices.get(info.device)
    if dh is not None and dh.expected_interval is not None:
        return dh.expected_interval
    if loaded.config.profiles[device.profile].kind == "particle_counter":
        return max(info.poll_interval, acfg.health.particle_record_interval)
    return info.poll_interval


def _device_health(b: _Builder, dev: DeviceRt, acfg: AlarmsConfig) -> None:
    health = acfg.health
    dh = health.devices.get(dev.name)
    if not health.enabled or (dh is not None and not dh.enabled):
        return
    if dh is None and b.health is not None:  # as every device without settings of its own
        dev.comm_spec, dev.fault_spec = b.health
        return
    comm_delay = dh.comm_fail_delay if dh and dh.comm_fail_delay is not None else (
        health.comm_fail_delay)
    fault_delay = dh.fault_delay if dh and dh.fault_delay is not None else health.fault_delay
    prio = str(health.priority)
    dev.comm_spec = b.cache.flag("comm_failure", prio, int(comm_delay * NS),
                                 {"delay_s": comm_delay})
    dev.fault_spec = b.cache.flag("device_fault", prio, int(fault_delay * NS),
                                  {"delay_s": fault_delay})
    if dh is None:
        b.health = (dev.comm_spec, dev.fault_spec)


def _limit(b: _Builder, limit: LimitConfig, explicit: set[str]) -> None:
    """The rules of one limit entry, given to its channel (if the tables have it)."""
    found = b.loaded.channels.get(limit.channel)
    if found is None or limit.channel not in b.t.channels:
        return
    explicit.add(limit.channel)
    _add_rules(b, found, b.cache.limit(found, limit))


def _packed_limits(b: _Builder, packed: PackedLimits, explicit: set[str]) -> None:
    """The entries of ``packed`` read as rows (``PackedLimits.rows``), in the order of the
    entries, giving the same tables as their models would (``_limit``).

    A site's 20,000 entries are a few distinct bases (an entry's values but
    its channel) on channels of a few kinds; an entry's rules depend on
    nothing else (``SpecCache.limit``'s key). So they are looked up once per
    base and kind, by small numbers, and no model is made but to compute
    rules not known yet: a third of the time of making the models and
    keying each by its values.
    """
    channels, tchannels, index, seqs = b.loaded.channels, b.t.channels, b.index, b.t.seqs
    numbers: dict[Any, int] = {}  # a base, a device's or a channel spec's part of the key
    by_device: dict[int, int] = {}  # id of a channel's DeviceInfo -> its number
    by_spec: dict[int, int] = {}  # id of its ChannelSpec -> its number
    known: dict[tuple[int, int, int], tuple[tuple[RuleSpec, ...], RuleSet]] = {}
    shared: object = None  # the DeviceInfo of the last row, numbered ``dev``
    dev = -1
    for location in packed:
        bases, rows = packed.rows(location)
        nos = [numbers.setdefault(base, len(numbers)) for base in bases]
        for row in rows:
            if type(row) is not tuple:  # an entry pickled as the model
                _limit(b, cast(LimitConfig, row), explicit)
                continue
            at, cid, set_at = row
            ch = tchannels.get(cid)
            if ch is None:  # not a channel, or a disabled device's
                continue
            explicit.add(cid)
            info = channels[cid]
            if info.device_info is not shared:  # a location's rows are mostly one device's
                shared = info.device_info
                dev = by_device.get(id(shared), -1)
                if dev < 0:
                    dev = by_device[id(shared)] = numbers.setdefault(
                        ("device", info.standard, info.grade, info.poll_interval), len(numbers))
            spec = by_spec.get(id(info.spec))
            if spec is None:
                spec = by_spec[id(info.spec)] = numbers.setdefault(
                    ("spec", info.spec.quantity, info.spec.unit), len(numbers))
            key = (nos[at], dev, spec)
            found = known.get(key)
            if found is None:
                base = bases[at]
                specs = b.cache.limit_of(info, base, partial(packed.model, base, cid, set_at))
                found = known[key] = (specs, _rule_set(b, specs))
            if ch.rs.specs:
                _add_rules(b, info, found[0])
                continue
            b.seq += 1
            seqs[index[cid]] = b.seq
            ch.rs = found[1]


def _add_rules(b: _Builder, info: ChannelInfo, specs: tuple[RuleSpec, ...]) -> None:
    """Give a channel the rules of one limit entry (a later entry's rule replaces a same-named
    one: a point is one rule)."""
    ch = b.t.channels[info.id]
    b.seq += 1
    if ch.rs.specs:
        names = {s.rule for s in specs}
        ch.rs = b.cache.rule_set((*(s for s in ch.rs.specs if s.rule not in names), *specs))
        return
    b.t.seqs[b.index[ch.id]] = b.seq
    ch.rs = _rule_set(b, specs)


def _rule_set(b: _Builder, specs: tuple[RuleSpec, ...]) -> RuleSet:
    """The rule set of a channel whose only entry has ``specs`` (the usual case): the specs
    tuple channels alike share, so known by its id."""
    known = b.sets.get(id(specs))
    if known is None or known[0] is not specs:
        known = b.sets[id(specs)] = (specs, b.cache.rule_set(specs))
    return known[1]


def _auto_preset(b: _Builder, info: ChannelInfo, acfg: AlarmsConfig) -> None:
    key = (info.standard, info.grade, info.spec.quantity)
    if key not in b.presets:
        b.presets[key] = _preset_limit(info, acfg)
    limit = b.presets[key]
    if limit is not None:
        _add_rules(b, info, b.cache.limit(info, limit))


def _preset_limit(info: ChannelInfo, acfg: AlarmsConfig) -> LimitConfig | None:
    values = [preset_limit(info.standard, info.grade, s, info.spec.quantity) for s in STATES]
    if all(v is None for v in values):
        return None
    raw: dict[str, Any] = {
        "channel": info.id, "high_action": "preset",
        "alert_fraction": acfg.preset_alert_fraction,
        "priority_action": str(acfg.preset_priority),
    }
    for state, value in zip(STATES, values, strict=True):
        if value is None:  # e.g. Grade D in operation: not predetermined, so no alarm
            raw[state] = {"high_action": None, "alert_fraction": None}
    return LimitConfig.model_validate(raw)


def _door(b: _Builder, door: DoorConfig) -> None:
    t, loaded = b.t, b.loaded
    ch = t.channels.get(door.channel)
    if ch is None:
        return
    info = loaded.channels[door.channel]
    rt = DoorRt(int(door.suppress_for * NS), int(door.settle * NS))
    held = None
    if door.held_open_after is not None:
        point = AlarmPoint(point_key(door.channel, "door_held_open"), location=info.location,
                           channel=door.channel, device=info.device, rule="door_held_open",
                           level=Level.ALERT, priority=str(door.priority), latching=False)
        held = FlagRule(point, ch.kind.loc, int(door.held_open_after * NS),
                        {"held_open_after_s": door.held_open_after},
                        threshold=door.held_open_after)
        t.pin(point, held, P_DOOR)
    b.reshape(ch, doors=(*ch.kind.doors, DoorInput(rt, held, door.open_when == "zero")))
    targets = door.suppress
    if targets is None:
        targets = [cid for cid, i in loaded.channels.items()
                   if i.location == info.location and i.spec.quantity == DP_QUANTITY]
    for cid in targets:
        target = t.channels.get(cid)
        if target is None or not any(target.rs.doored):
            continue
        b.reshape(target, suppressors=(*target.kind.suppressors, rt))


def describe(t: Tables) -> Mapping[str, Any]:
    """A summary for logs and the CLI: how many rules of which kind (in the order first met,
    devices', channels' and pinned points' in turn), and how many points in all."""
    kinds: dict[str, int] = {}

    def add(rule: str, n: int = 1) -> None:
        kinds[rule] = kinds.get(rule, 0) + n

    for dev in t.devices.values():
        for spec in (dev.comm_spec, dev.fault_spec):
            if spec is not None:
                add(spec.rule)
    channels = t.channels.values()
    # 20,000 channels share a few kinds and rule sets: counted per pair, in the order met
    pairs = Counter(zip(map(_KIND, channels), map(_RULE_SET, channels), strict=True))
    for (kind, rs), n in pairs.items():
        if kind.stale_spec is not None:
            add(kind.stale_spec.rule, n)
        for spec in rs.specs:
            add(spec.rule, n)
    for key in t.pinned:
        add(t.lives[key].rule)
    return {"channels": len(t.channels), "points": sum(kinds.values()), "rules": kinds}


_KIND = attrgetter("kind")
_RULE_SET = attrgetter("rs")
