"""Restoring the engine from its event log after a start or a restart.

The log is the only record of alarm state: each point takes the state its
last event shows, open alarms get back their id, start, limit and peak, the
conditions of active alarms are assumed to still hold (so that the next
normal samples clear them through their off-delay and deadband, and no
duplicate is raised), and shelving, maintenance, out-of-service and manual
location states come back with their expiry (as moved by the last clock
step, if one came after them). A point the configuration no
longer has is retired: its condition ends, its unacknowledged alarm stays
until someone acknowledges it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from .base import SYSTEM
from .engine import AlarmEngine
from .events import AlarmEvent, AlarmState, EventKind, Level, Mode
from .location import Manual
from .states import AlarmPoint
from .table import P_LOG

ACTIVE = (AlarmState.ACTIVE_UNACK, AlarmState.ACTIVE_ACK)


@dataclass
class RestoreReport:
    events: int = 0
    open_alarms: list[int] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    locations_logged: set[str] = field(default_factory=set)


def restore(engine: AlarmEngine, events: Iterable[AlarmEvent], now_ns: int) -> RestoreReport:
    """Fold ``events`` (seq order) into ``engine``; then retire points no longer configured."""
    report = RestoreReport()
    points = engine.t.points
    orphans: dict[str, AlarmPoint] = {}
    last_seq, max_alarm = 0, 0
    for event in events:
        report.events += 1
        last_seq = max(last_seq, event.seq)
        if event.alarm_id is not None:
            max_alarm = max(max_alarm, event.alarm_id)
        if event.kind is EventKind.LOCATION_STATE:
            _location(engine, event, report)
            continue
        if event.kind is EventKind.MAINTENANCE:
            _maintenance(engine, event)
            continue
        if event.kind is EventKind.CLOCK_STEP:
            _clock_step(engine, event)
            continue
        if event.point is None or event.state is None:
            continue
        point = points.get(event.point) or orphans.get(event.point)
        if point is None:
            point = orphans[event.point] = _orphan(event)
        _fold(point, event)
    engine.next_seq = max(engine.next_seq, last_seq + 1)
    engine.next_alarm_id = max(engine.next_alarm_id, max_alarm + 1)
    for point in engine.t.live_points():
        point.suppressed = engine.in_maintenance(point)
        cond = engine.t.conditions.get(point.key)
        if cond is not None and point.state in ACTIVE:
            cond.restore_active()
        if point.alarm_id is not None:
            report.open_alarms.append(point.alarm_id)
    for point in orphans.values():
        engine.t.pin(point, None, P_LOG)
        point.suppressed = engine.in_maintenance(point)
        if point.state is not AlarmState.NORMAL:
            engine.retire(point, now_ns)
            report.retired.append(point.key)
        if point.alarm_id is not None:
            report.open_alarms.append(point.alarm_id)
    report.open_alarms.sort()
    engine.t.sweep()  # points the log made live that hold nothing
    return report


def start_locations(engine: AlarmEngine, now_ns: int, logged: set[str]) -> None:
    """Put every location in the state it should have now; record it if new or changed."""
    for name, tracker in engine.t.trackers.items():
        first = name not in logged
        engine.apply_location(tracker, now_ns, SYSTEM, "engine start", force=first, initial=first)


def _fold(point: AlarmPoint, event: AlarmEvent) -> None:
    state = event.state
    assert state is not None
    if event.alarm_id is not None and event.alarm_id != point.alarm_id:
        point.alarm_id = event.alarm_id
        point.episode_start = point.raised_ns = point.peak = point.peak_ns = None
        point.limit = None
    kind = event.kind
    details: dict[str, Any] = dict(event.details or {})
    if kind is EventKind.RAISED:
        if point.raised_ns is None:
            point.raised_ns = event.ts_ns
            point.episode_start = details.get("start_ns", event.ts_ns)
        point.limit = event.limit
        _peak(point, event.value, event.ts_ns)
    elif kind is EventKind.PEAK:
        _peak(point, event.value, event.ts_ns)
    elif kind in (EventKind.CLEARED, EventKind.RETIRED):
        _peak(point, details.get("peak"), details.get("peak_ns"))
    elif kind is EventKind.SHELVED:
        point.shelved_until, point.shelved_by = details.get("until_ns"), event.user
    elif kind is EventKind.UNSHELVED:
        point.shelved_until = point.shelved_by = None
    point.state = state
    point.oos = event.mode is Mode.OUT_OF_SERVICE
    if state is AlarmState.NORMAL:
        point.alarm_id = None
        point.episode_start = point.raised_ns = point.peak = point.peak_ns = None
        point.limit = None
    point.peak_logged = event.ts_ns if kind in (EventKind.RAISED, EventKind.PEAK) else (
        point.peak_logged)


def _peak(point: AlarmPoint, value: Any, ts: Any) -> None:
    if value is None or ts is None:
        return
    if point.peak is None or (float(value) - point.peak) * (point.sign or 1.0) > 0:
        point.peak, point.peak_ns = float(value), int(ts)


def _orphan(event: AlarmEvent) -> AlarmPoint:
    channel = event.channel or str(event.point).rsplit(":", 1)[0]
    rule = event.rule or str(event.point).rsplit(":", 1)[-1]
    sign = -1.0 if rule.startswith("low_") else 1.0
    return AlarmPoint(event.point or "", location=event.location or "", channel=channel,
                      device=channel.split("/", 1)[0], rule=rule,
                      level=event.level or Level.HEALTH, priority=event.priority or "high",
                      latching=False, sign=sign)


def _location(engine: AlarmEngine, event: AlarmEvent, report: RestoreReport) -> None:
    tracker = engine.t.trackers.get(event.location or "")
    if tracker is None or event.location_state is None:
        return
    report.locations_logged.add(tracker.name)
    details = dict(event.details or {})
    tracker.rt.set_state(event.location_state)
    tracker.source = str(details.get("source", "default"))
    if tracker.source == "manual":
        tracker.manual = Manual(event.location_state, details.get("until_ns"),
                                event.user or SYSTEM, event.reason or "")
    else:
        tracker.manual = None


def _clock_step(engine: AlarmEngine, event: AlarmEvent) -> None:
    """Expiries moved by a clock step, for the shelving/maintenance/manual state still open.

    The log holds the last step only (the last event of its point), with every
    expiry open at that step as it then stood; a setting logged after it wins.
    """
    expiries = dict((event.details or {}).get("expiries") or {})
    for key, until in dict(expiries.get("shelved") or {}).items():
        point = engine.t.points.get(key)
        if point is not None and point.shelved_until is not None:
            point.shelved_until = int(until)
    for target, until in dict(expiries.get("maintenance") or {}).items():
        if engine.maintenance.get(target) is not None:
            engine.maintenance[target] = int(until)
    for location, until in dict(expiries.get("manual") or {}).items():
        tracker = engine.t.trackers.get(location)
        if tracker is not None and tracker.manual is not None and (
            tracker.manual.until_ns is not None
        ):
            tracker.manual = replace(tracker.manual, until_ns=int(until))


def _maintenance(engine: AlarmEngine, event: AlarmEvent) -> None:
    details = dict(event.details or {})
    target = details.get("target")
    if not isinstance(target, str):
        return
    if details.get("on"):
        engine.maintenance[target] = details.get("until_ns")
    else:
        engine.maintenance.pop(target, None)
