"""Rule settings, shared: what a rule is, apart from the state of its alarm.

A site's limits repeat: the same alert and action values on every channel of a
kind, the same grade preset in every room of a grade. A rule's settings
(limits per location state, the limits recorded with an excursion, delays,
deadband, n-of-m, priority) are therefore made once per distinct limit entry
and shared by every channel that has it (``SpecCache``), and the live
``Condition`` and ``AlarmPoint`` of a rule are made only when a sample first
needs them (``monitor.alarms.table``). A channel's ``RuleSet`` adds the
*quiet band*: per location state, the values no rule of the channel reacts to
while none is live, so that a normal sample costs two comparisons.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from monitor.config import ChannelInfo
from monitor.config.alarms import LimitConfig, LimitValues

from .conditions import Condition, FlagRule, LocationRt, RateRule, ValueRule
from .events import Level
from .presets import preset_limit, preset_table_name
from .states import AlarmPoint

NS = 1_000_000_000
STATES = ("at_rest", "in_operation")
INF = math.inf
RULES = (("high_alert", 1.0, Level.ALERT), ("high_action", 1.0, Level.ACTION),
         ("low_alert", -1.0, Level.ALERT), ("low_action", -1.0, Level.ACTION))
#: every field of a limit entry but its channel: two entries equal in these share their rules
LIMIT_FIELDS = tuple(f for f in LimitConfig.model_fields if f != "channel")
_limit_fields = operator.attrgetter(*LIMIT_FIELDS)
_OVERRIDES = tuple(LIMIT_FIELDS.index(f) for f in ("at_rest", "in_operation"))


class PointSpec:
    """What an alarm point is: its rule, level, priority and latching (not its state)."""

    __slots__ = ("latching", "level", "priority", "rule", "sign")

    def __init__(self, rule: str, level: Level, priority: str, *, latching: bool,
                 sign: float = 0.0) -> None:
        self.rule, self.level, self.priority = rule, level, priority
        self.latching, self.sign = latching, sign

    def point(self, key: str, channel: str, device: str, location: str) -> AlarmPoint:
        return AlarmPoint(key, location=location, channel=channel, device=device,
                          rule=self.rule, level=self.level, priority=self.priority,
                          latching=self.latching, sign=self.sign)


class ValueSpec(PointSpec):
    """One limit (high/low, alert/action) as configured, both location states."""

    __slots__ = ("deadband", "in_force", "limits", "m", "n", "off_ns", "on_ns", "settings")

    def __init__(self, rule: str, level: Level, priority: str, *, latching: bool, sign: float,
                 limits: tuple[float | None, float | None],
                 in_force: tuple[Mapping[str, Any], ...], settings: Mapping[str, Any],
                 on_ns: int, off_ns: int, deadband: float, n: int, m: int) -> None:
        super().__init__(rule, level, priority, latching=latching, sign=sign)
        self.limits, self.in_force, self.settings = limits, in_force, settings
        self.on_ns, self.off_ns, self.deadband, self.n, self.m = on_ns, off_ns, deadband, n, m

    def band(self, state_idx: int) -> tuple[float, float]:
        """(low, high): a value outside it would start this rule's condition (not yet active)."""
        limit = self.limits[state_idx]
        if limit is None:
            return -INF, INF
        return (-INF, limit) if self.sign > 0 else (limit, INF)

    def condition(self, point: AlarmPoint, loc: LocationRt) -> ValueRule:
        return ValueRule(point, loc, limits=self.limits, sign=self.sign, on_ns=self.on_ns,
                         off_ns=self.off_ns, deadband=self.deadband, n=self.n, m=self.m,
                         in_force=self.in_force, settings=self.settings)


class RateSpec(PointSpec):
    """A rate-of-change rule: its window must see every sample, so it is live from the first."""

    __slots__ = ("capacity", "direction", "max_change", "on_ns", "per_ns", "settings")

    def __init__(self, rule: str, level: Level, priority: str, *, latching: bool,
                 max_change: float, per_ns: int, direction: str, capacity: int, on_ns: int,
                 settings: Mapping[str, Any]) -> None:
        super().__init__(rule, level, priority, latching=latching)
        self.max_change, self.per_ns, self.direction = max_change, per_ns, direction
        self.capacity, self.on_ns, self.settings = capacity, on_ns, settings

    def band(self, state_idx: int) -> tuple[float, float]:
        return INF, -INF  # every sample wakes it

    def condition(self, point: AlarmPoint, loc: LocationRt) -> RateRule:
        return RateRule(point, loc, max_change=self.max_change, per_ns=self.per_ns,
                        direction=self.direction, capacity=self.capacity, on_ns=self.on_ns,
                        settings=self.settings)


class FlagSpec(PointSpec):
    """A health rule set from outside (stale data, communication failure, device fault)."""

    __slots__ = ("on_ns", "settings", "threshold")

    def __init__(self, rule: str, priority: str, *, on_ns: int, settings: Mapping[str, Any],
                 threshold: float | None = None) -> None:
        super().__init__(rule, Level.HEALTH, priority, latching=False)
        self.on_ns, self.settings, self.threshold = on_ns, settings, threshold

    def condition(self, point: AlarmPoint, loc: LocationRt) -> FlagRule:
        return FlagRule(point, loc, self.on_ns, self.settings, threshold=self.threshold)


RuleSpec = ValueSpec | RateSpec


class RuleSet:
    """A channel's rules in order, and per location state the band no idle rule reacts to."""

    __slots__ = ("band", "doored", "specs", "value_band", "wake")

    def __init__(self, specs: Sequence[RuleSpec]) -> None:
        self.specs: tuple[RuleSpec, ...] = tuple(specs)
        self.band: tuple[tuple[float, float], ...] = tuple(
            _meet(self.specs, idx) for idx in range(len(STATES)))
        #: per state, the band no idle *value* rule reacts to (a rate rule is always live)
        self.value_band: tuple[tuple[float, float], ...] = tuple(
            _meet([s for s in self.specs if isinstance(s, ValueSpec)], idx)
            for idx in range(len(STATES)))
        #: per state, per rule: the band of values that leave that rule idle
        self.wake: tuple[tuple[tuple[float, float], ...], ...] = tuple(
            tuple(spec.band(idx) for spec in self.specs) for idx in range(len(STATES)))
        self.doored = tuple(isinstance(s, ValueSpec) for s in self.specs)

    def wakes(self, i: int, state_idx: int, v: float) -> bool:
        lo, hi = self.specs[i].band(state_idx)
        return v < lo or v > hi

    def rule_index(self, rule: str) -> int | None:
        found = None
        for i, spec in enumerate(self.specs):
            if spec.rule == rule:
                found = i
        return found


def _meet(specs: Sequence[RuleSpec], idx: int) -> tuple[float, float]:
    """The values none of ``specs`` reacts to while idle, in state ``idx``."""
    lo, hi = -INF, INF
    for spec in specs:
        s_lo, s_hi = spec.band(idx)
        lo, hi = max(lo, s_lo), min(hi, s_hi)
    return lo, hi


EMPTY = RuleSet(())


def resolve(values: LimitValues, info: ChannelInfo, state: str) -> dict[str, Any]:
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


def limit_specs(info: ChannelInfo, limit: LimitConfig) -> tuple[RuleSpec, ...]:
    """The rules of one limit entry on a channel like ``info``, in evaluation order."""
    per_state = [resolve(limit.effective(s), info, s) for s in STATES]
    for in_force in per_state:
        in_force["between"] = list(limit.between) if limit.between else None
        in_force["description"] = limit.description or None
    in_force_t = tuple(per_state)
    settings = {"on_delay_s": limit.on_delay, "off_delay_s": limit.off_delay,
                "deadband": limit.deadband, "n": limit.consecutive, "m": limit.window}
    out: list[RuleSpec] = []
    for name, sign, level in RULES:
        values = (per_state[0][name], per_state[1][name])
        if values[0] is None and values[1] is None:
            continue
        action = level is Level.ACTION
        out.append(ValueSpec(
            name, level, str(limit.priority_action if action else limit.priority_alert),
            latching=limit.latch_action if action else limit.latch_alert, sign=sign,
            limits=values, in_force=in_force_t, settings=settings,
            on_ns=int(limit.on_delay * NS), off_ns=int(limit.off_delay * NS),
            deadband=limit.deadband, n=limit.consecutive, m=limit.window))
    roc = limit.rate_of_change
    if roc is not None:
        interval = max(info.poll_interval, 0.001)
        action = roc.level == "action"
        out.append(RateSpec(
            "rate_of_change", Level.ACTION if action else Level.ALERT, str(roc.priority),
            latching=limit.latch_action if action else limit.latch_alert,
            max_change=roc.max_change, per_ns=int(roc.per * NS), direction=roc.direction,
            capacity=min(max(math.ceil(roc.per / interval) + 2, 4), 4096),
            on_ns=int(roc.on_delay * NS),
            settings={"max_change": roc.max_change, "per_s": roc.per,
                      "direction": roc.direction, "on_delay_s": roc.on_delay}))
    return tuple(out)


def _override_key(values: LimitValues | None) -> Any:
    """A state override compares by its values *and* by which fields it set (null included)."""
    if values is None:
        return None
    return values, frozenset(values.model_fields_set)


class SpecCache:
    """Each distinct limit entry (for a channel's grade, standard, unit and interval) once."""

    def __init__(self) -> None:
        self._limits: dict[Any, tuple[RuleSpec, ...]] = {}
        self._sets: dict[tuple[int, ...], RuleSet] = {}
        self._flags: dict[Any, FlagSpec] = {}
        self._numbers: dict[Any, Any] = {}

    def limit(self, info: ChannelInfo, limit: LimitConfig) -> tuple[RuleSpec, ...]:
        return self.limit_of(info, _limit_fields(limit), limit)

    def limit_of(self, info: ChannelInfo, fields: tuple[Any, ...],
                 limit: LimitConfig | Callable[[], LimitConfig]) -> tuple[RuleSpec, ...]:
        """The rules of the entry whose values but its channel are ``fields`` (in the order of
        ``LIMIT_FIELDS``); ``limit`` is that entry, or makes it if its rules are not known yet
        (a packed row: ``monitor.config.resident.PackedLimits.rows``)."""
        if fields[_OVERRIDES[0]] is not None or fields[_OVERRIDES[1]] is not None:
            fields = tuple(_override_key(v) if i in _OVERRIDES else v
                           for i, v in enumerate(fields))
        key = (fields, info.standard, info.grade, info.spec.quantity, info.spec.unit,
               info.poll_interval)
        found = self._limits.get(key)
        if found is None:
            entry = limit if isinstance(limit, LimitConfig) else limit()
            found = self._limits[key] = limit_specs(info, entry)
        return found

    def rule_set(self, specs: Sequence[RuleSpec]) -> RuleSet:
        if not specs:
            return EMPTY
        key = tuple(id(s) for s in specs)  # specs live as long as this cache: ids are stable
        found = self._sets.get(key)
        if found is None:
            found = self._sets[key] = RuleSet(specs)
        return found

    def flag(self, rule: str, priority: str, on_ns: int, settings: Mapping[str, Any],
             threshold: float | None = None) -> FlagSpec:
        key = (rule, priority, on_ns, tuple(sorted(settings.items())), threshold)
        found = self._flags.get(key)
        if found is None:
            found = self._flags[key] = FlagSpec(rule, priority, on_ns=on_ns, settings=settings,
                                                threshold=threshold)
        return found

    def number(self, value: Any) -> Any:
        """One object per distinct number (timers of 20,000 channels are a few values)."""
        return self._numbers.setdefault((type(value), value), value)


def make_condition(spec: PointSpec, point: AlarmPoint, loc: LocationRt) -> Condition:
    if isinstance(spec, ValueSpec | RateSpec | FlagSpec):
        return spec.condition(point, loc)
    raise TypeError(f"no condition for {type(spec).__name__}")
