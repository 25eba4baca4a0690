"""The rule tables: everything the engine needs per channel, derived once from the config.

At build time each channel gets the tuple of rules that apply to it, with
limits already resolved per location state (explicit value, else grade
preset), so that evaluating a reading is a dict lookup and a few comparisons.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.config import ChannelInfo, LoadedConfig
from monitor.config.alarms import (
    PARTICLE_QUANTITIES,
    PARTICLE_UNITS,
    AlarmsConfig,
    DoorConfig,
    LimitConfig,
    LimitValues,
)
from monitor.config.devices import DeviceConfig

from .conditions import Condition, DoorRt, FlagRule, LocationRt, RateRule, ValueRule
from .events import Level
from .flags import add_check_points
from .location import LocationTracker
from .presets import preset_limit, preset_table_name
from .states import AlarmPoint
from .timebase import STEP_MIN_NS

NS = 1_000_000_000
STATES = ("at_rest", "in_operation")
DP_QUANTITY = "differential_pressure"


class DeviceRt:
    __slots__ = ("comm", "fault", "fault_n", "location", "name")

    def __init__(self, name: str, location: str) -> None:
        self.name, self.location = name, location
        self.comm: FlagRule | None = None
        self.fault: FlagRule | None = None
        self.fault_n = 0  # channels whose latest reading reports a fault


class ChannelRt:
    __slots__ = ("device", "doors", "faulted", "id", "inputs", "last_good_ts", "last_ts", "loc",
                 "poll_ns", "rules", "stale", "stale_ns", "step_ns")

    def __init__(self, cid: str, device: DeviceRt, loc: LocationRt, stale_ns: int,
                 poll_ns: int = NS) -> None:
        self.id, self.device, self.loc, self.stale_ns = cid, device, loc, stale_ns
        self.poll_ns = poll_ns
        # going back further than this is a step of the clock, not a reordered sample
        self.step_ns = max(STEP_MIN_NS, 2 * poll_ns)
        self.rules: tuple[ValueRule | RateRule, ...] = ()
        self.stale: FlagRule | None = None
        self.last_ts = -1
        self.last_good_ts = 0
        self.faulted = False
        self.inputs: list[LocationTracker] = []
        self.doors: list[DoorInput] = []


@dataclass
class DoorInput:
    door: DoorRt
    held: FlagRule | None
    zero_means_open: bool


@dataclass
class Tables:
    channels: dict[str, ChannelRt] = field(default_factory=dict)
    devices: dict[str, DeviceRt] = field(default_factory=dict)
    locations: dict[str, LocationRt] = field(default_factory=dict)
    trackers: dict[str, LocationTracker] = field(default_factory=dict)
    points: dict[str, AlarmPoint] = field(default_factory=dict)
    conditions: dict[str, Condition] = field(default_factory=dict)  # by point key


def point_key(channel: str, rule: str) -> str:
    return f"{channel}:{rule}"


def build_tables(loaded: LoadedConfig) -> Tables:
    cfg = loaded.config
    acfg = cfg.alarms
    t = Tables()
    for name, (_room, loc) in loaded.locations.items():
        rt = LocationRt(name, str(loc.state.default))
        t.locations[name] = rt
        t.trackers[name] = LocationTracker(rt, loc.state, cfg.site.timezone)
    enabled = {d.name: d for d in cfg.devices if d.enabled}
    for device in enabled.values():
        dev = DeviceRt(device.name, device.location)
        t.devices[device.name] = dev
        _device_health(t, dev, acfg, loaded)
    for cid, info in loaded.channels.items():
        if info.device not in enabled:
            continue
        interval = _expected_interval(loaded, info, acfg, enabled[info.device])
        dh = acfg.health.devices.get(info.device)
        k = (dh.stale_after_intervals if dh and dh.stale_after_intervals
             else acfg.health.stale_after_intervals)
        ch = ChannelRt(cid, t.devices[info.device], t.locations[info.location],
                       int(k * interval * NS), int(info.poll_interval * NS))
        t.channels[cid] = ch
        if acfg.health.enabled and (dh is None or dh.enabled):
            delay = dh.stale_delay if dh and dh.stale_delay is not None else acfg.health.stale_delay
            point = _point(t, cid, info.device, info.location, "stale", Level.HEALTH,
                           str(acfg.health.priority), latching=False)
            ch.stale = FlagRule(point, ch.loc, int(delay * NS),
                                {"after_s": k * interval, "delay_s": delay}, threshold=k * interval)
            t.conditions[point.key] = ch.stale
    explicit: set[str] = set()
    for location, limits in acfg.limits.items():
        for limit in limits:
            found = loaded.channels.get(limit.channel)
            if found is None or limit.channel not in t.channels:
                continue
            explicit.add(limit.channel)
            _limit_rules(t, loaded, found, location, limit)
    if acfg.auto_presets:
        for cid, info in loaded.channels.items():
            if cid in t.channels and cid not in explicit and (
                info.spec.quantity in PARTICLE_QUANTITIES and info.spec.unit in PARTICLE_UNITS
            ):  # a counter reporting per ft³ needs explicit limits: presets are per m³
                _auto_preset(t, loaded, info, acfg)
    for door in acfg.doors:
        _door(t, loaded, door)
    for name, (_room, loc) in loaded.locations.items():
        source = loc.state.input
        if source is not None and source in t.channels:
            t.channels[source].inputs.append(t.trackers[name])
    add_check_points(t, loaded)
    return t


def _point(t: Tables, channel: str, device: str, location: str, rule: str,  # noqa: PLR0917
           level: Level, priority: str, *, latching: bool, sign: float = 0.0) -> AlarmPoint:
    key = point_key(channel, rule)
    point = AlarmPoint(key, location=location, channel=channel, device=device, rule=rule,
                       level=level, priority=priority, latching=latching, sign=sign)
    t.points[key] = point
    return point


def _expected_interval(loaded: LoadedConfig, info: ChannelInfo, acfg: AlarmsConfig,
                       device: DeviceConfig) -> float:
    dh = acfg.health.devices.get(info.device)
    if dh is not None and dh.expected_interval is not None:
        return dh.expected_interval
    if loaded.config.profiles[device.profile].kind == "particle_counter":
        return max(info.poll_interval, acfg.health.particle_record_interval)
    return info.poll_interval


def _device_health(t: Tables, dev: DeviceRt, acfg: AlarmsConfig, loaded: LoadedConfig) -> None:
    health = acfg.health
    dh = health.devices.get(dev.name)
    if not health.enabled or (dh is not None and not dh.enabled):
        return
    loc = t.locations[dev.location]
    comm_delay = dh.comm_fail_delay if dh and dh.comm_fail_delay is not None else (
        health.comm_fail_delay)
    fault_delay = dh.fault_delay if dh and dh.fault_delay is not None else health.fault_delay
    prio = str(health.priority)
    comm = _point(t, dev.name, dev.name, dev.location, "comm_failure", Level.HEALTH, prio,
                  latching=False)
    dev.comm = FlagRule(comm, loc, int(comm_delay * NS), {"delay_s": comm_delay})
    fault = _point(t, dev.name, dev.name, dev.location, "device_fault", Level.HEALTH, prio,
                   latching=False)
    dev.fault = FlagRule(fault, loc, int(fault_delay * NS), {"delay_s": fault_delay})
    t.conditions[comm.key], t.conditions[fault.key] = dev.comm, dev.fault


def _resolve(values: LimitValues, info: ChannelInfo, state: str) -> dict[str, Any]:
    """Numbers in force in one state, with where each came from."""
    out: dict[str, Any] = {"high_alert": values.high_alert, "low_alert": values.low_alert,
                           "low_action": values.low_action, "high_action": None}
    source = "config"
    if values.high_action == "preset":
        preset = preset_limit(info.standard, info.grade, state, info.spec.quantity)
        out["high_action"] = None if preset is None else float(preset)
        source = f"{preset_table_name(info.standard, info.grade)} grade {info.grade}"
    elif values.high_action is not None:
        out["high_action"] = float(values.high_action)
    if values.alert_fraction is not None and out["high_action"] is not None:
        out["high_alert"] = values.alert_fraction * out["high_action"]
    out["high_action_source"] = source
    out["state"] = state
    out["unit"] = info.spec.unit
    return out


RULES = (("high_alert", 1.0, Level.ALERT), ("high_action", 1.0, Level.ACTION),
         ("low_alert", -1.0, Level.ALERT), ("low_action", -1.0, Level.ACTION))


def _limit_rules(t: Tables, loaded: LoadedConfig, info: ChannelInfo, location: str,
                 limit: LimitConfig) -> None:
    per_state = [_resolve(limit.effective(s), info, s) for s in STATES]
    for in_force in per_state:
        in_force["between"] = list(limit.between) if limit.between else None
        in_force["description"] = limit.description or None
    ch = t.channels[info.id]
    settings = {"on_delay_s": limit.on_delay, "off_delay_s": limit.off_delay,
                "deadband": limit.deadband, "n": limit.consecutive, "m": limit.window}
    rules: list[ValueRule | RateRule] = list(ch.rules)
    for name, sign, level in RULES:
        values = [per_state[i][name] for i in range(2)]
        if all(v is None for v in values):
            continue
        action = level is Level.ACTION
        point = _point(t, info.id, info.device, location, name, level,
                       str(limit.priority_action if action else limit.priority_alert),
                       latching=limit.latch_action if action else limit.latch_alert, sign=sign)
        rule = ValueRule(point, t.locations[location], limits=values, sign=sign,
                         on_ns=int(limit.on_delay * NS), off_ns=int(limit.off_delay * NS),
                         deadband=limit.deadband, n=limit.consecutive, m=limit.window,
                         in_force=per_state, settings=settings)
        rules.append(rule)
        t.conditions[point.key] = rule
    roc = limit.rate_of_change
    if roc is not None:
        interval = max(info.poll_interval, 0.001)
        capacity = min(max(math.ceil(roc.per / interval) + 2, 4), 4096)
        action = roc.level == "action"
        point = _point(t, info.id, info.device, location, "rate_of_change",
                       Level.ACTION if action else Level.ALERT, str(roc.priority),
                       latching=limit.latch_action if action else limit.latch_alert)
        rate = RateRule(point, t.locations[location], max_change=roc.max_change,
                        per_ns=int(roc.per * NS), direction=roc.direction, capacity=capacity,
                        on_ns=int(roc.on_delay * NS),
                        settings={"max_change": roc.max_change, "per_s": roc.per,
                                  "direction": roc.direction, "on_delay_s": roc.on_delay})
        rules.append(rate)
        t.conditions[point.key] = rate
    ch.rules = tuple(rules)


def _auto_preset(t: Tables, loaded: LoadedConfig, info: ChannelInfo,
                 acfg: AlarmsConfig) -> None:
    values = [preset_limit(info.standard, info.grade, s, info.spec.quantity) for s in STATES]
    if all(v is None for v in values):
        return
    raw: dict[str, Any] = {
        "channel": info.id, "high_action": "preset",
        "alert_fraction": acfg.preset_alert_fraction,
        "priority_action": str(acfg.preset_priority),
    }
    for state, value in zip(STATES, values, strict=True):
        if value is None:  # e.g. Grade D in operation: not predetermined, so no alarm
            raw[state] = {"high_action": None, "alert_fraction": None}
    limit = LimitConfig.model_validate(raw)
    _limit_rules(t, loaded, info, info.location, limit)


def _door(t: Tables, loaded: LoadedConfig, door: DoorConfig) -> None:
    ch = t.channels.get(door.channel)
    if ch is None:
        return
    info = loaded.channels[door.channel]
    rt = DoorRt(int(door.suppress_for * NS), int(door.settle * NS))
    held = None
    if door.held_open_after is not None:
        point = _point(t, door.channel, info.device, info.location, "door_held_open",
                       Level.ALERT, str(door.priority), latching=False)
        held = FlagRule(point, ch.loc, int(door.held_open_after * NS),
                        {"held_open_after_s": door.held_open_after},
                        threshold=door.held_open_after)
        t.conditions[point.key] = held
    ch.doors.append(DoorInput(rt, held, door.open_when == "zero"))
    targets = door.suppress
    if targets is None:
        targets = [cid for cid, i in loaded.channels.items()
                   if i.location == info.location and i.spec.quantity == DP_QUANTITY]
    for cid in targets:
        target = t.channels.get(cid)
        if target is None:
            continue
        for rule in target.rules:
            if isinstance(rule, ValueRule):
                rule.doors = (*rule.doors, rt)


def describe(t: Tables) -> Mapping[str, Any]:
    """A summary for logs and the CLI: how many rules of which kind."""
    kinds: dict[str, int] = {}
    for point in t.points.values():
        kinds[point.rule] = kinds.get(point.rule, 0) + 1
    return {"channels": len(t.channels), "points": len(t.points), "rules": kinds}
