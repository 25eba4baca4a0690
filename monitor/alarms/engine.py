"""The alarm engine: the pure core plus the operator actions on it.

Every action needs a user and a reason (ALCOA+: attributable) and is refused
with ``AlarmError`` when it does not apply (acknowledging a normal alarm,
shelving beyond the allowed time). Times are passed in; nothing here reads a
clock. Signature checks and the audit trail are the service's business.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from monitor.config.alarms import Priority
from monitor.errors import AlarmError
from monitor.model import LocationState

from .conditions import FlagRule
from .core import EngineCore
from .events import AlarmEvent, AlarmState, EventKind
from .flags import Flag
from .location import Manual
from .states import AlarmPoint
from .system import Report, declare

AUTO = "auto"
PRIORITIES = tuple(p.value for p in Priority)


def _require(user: str, reason: str) -> None:
    if not user or not user.strip():
        raise AlarmError("a user is required")
    if not reason or not reason.strip():
        raise AlarmError("a reason is required")


class AlarmEngine(EngineCore):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clear_seen: dict[str, int] = {}  # system point -> last report that it did not hold
    def find(self, ref: int | str) -> AlarmPoint:
        """An alarm by its id (``17`` or ``"17"``) or its point key (``"pc-1/p05:high_action"``)."""
        if isinstance(ref, str) and ref.strip().isdigit():
            ref = int(ref)
        if isinstance(ref, int):
            for point in self.t.live_points():  # an open alarm is live
                if point.alarm_id == ref:
                    return point
            raise AlarmError(f"no open alarm {ref}")
        found = self.t.points.get(ref)
        if found is None:
            raise AlarmError(f"unknown alarm point {ref!r} (write it as device/channel:rule)")
        return found

    def acknowledge(self, ref: int | str, user: str, reason: str, ts_ns: int,
                    details: Mapping[str, Any] | None = None) -> list[AlarmEvent]:
        _require(user, reason)
        self.find(ref).acknowledge(self, ts_ns, user, reason, details)
        return self.drain()

    def shelve(self, ref: int | str, user: str, reason: str, ts_ns: int,
               until_ns: int) -> list[AlarmEvent]:
        _require(user, reason)
        if until_ns <= ts_ns:
            raise AlarmError("shelving needs an expiry in the future")
        if until_ns - ts_ns > self.max_shelve_ns:
            raise AlarmError(
                f"shelving is limited to {self.max_shelve_ns / 1e9 / 3600:g} h (alarms.max_shelve)")
        self.find(ref).shelve(self, ts_ns, user, reason, until_ns)
        self._shelf_due = min(self._shelf_due, until_ns)
        return self.drain()

    def unshelve(self, ref: int | str, user: str, reason: str, ts_ns: int) -> list[AlarmEvent]:
        _require(user, reason)
        self.find(ref).unshelve(self, ts_ns, user, reason)
        return self.drain()

    def set_location_state(self, location: str, state: str | None, *, user: str, reason: str,
                           ts_ns: int, until_ns: int | None = None) -> list[AlarmEvent]:
        """Set the state by hand (``None``/``"auto"``: back to input/schedule/default)."""
        _require(user, reason)
        tracker = self.t.trackers.get(location)
        if tracker is None:
            raise AlarmError(f"unknown location {location!r}")
        if until_ns is not None and until_ns <= ts_ns:
            raise AlarmError("a manual state's expiry must be in the future")
        if state is None or state == AUTO:
            if tracker.manual is None:
                raise AlarmError(f"{location} has no manual state to release")
            tracker.manual = None
        else:
            try:
                wanted = str(LocationState(state))
            except ValueError as err:
                raise AlarmError(f"state must be at_rest, in_operation or auto, not {state!r}"
                                 ) from err
            tracker.manual = Manual(wanted, until_ns, user, reason)
        self.apply_location(tracker, ts_ns, user, reason, force=True)
        return self.drain()

    def set_maintenance(self, target: str, on: bool, *, user: str, reason: str, ts_ns: int,
                        until_ns: int | None = None) -> list[AlarmEvent]:
        """Maintenance/bypass for a location, a device or a channel: alarms are suppressed."""
        _require(user, reason)
        if target not in self.t.locations and target not in self.t.devices and (
            target not in self.t.channels
        ):
            raise AlarmError(f"unknown location, device or channel {target!r}")
        if not on:
            if target not in self.maintenance:
                raise AlarmError(f"{target} is not in maintenance")
            self.end_maintenance(target, ts_ns, user, reason)
            return self.drain()
        if until_ns is not None and until_ns <= ts_ns:
            raise AlarmError("maintenance needs an expiry in the future")
        self.maintenance[target] = until_ns
        self.emit(None, ts_ns, EventKind.MAINTENANCE, point=f"maintenance:{target}", user=user,
                  reason=reason, details={"target": target, "on": True, "until_ns": until_ns})
        for point in self.t.live_points():  # an idle point learns it when it is made
            if not point.suppressed and self.in_maintenance(point):
                point.set_suppressed(self, ts_ns, True, user=user, reason=reason, target=target)
        return self.drain()

    def set_out_of_service(self, target: str, on: bool, user: str, reason: str,
                           ts_ns: int) -> list[AlarmEvent]:
        """Take an alarm point, every point of a channel or of a device out of service."""
        _require(user, reason)
        points = [p for p in self.t.matching(target) if p.oos != on]
        if not points:
            raise AlarmError(f"nothing to change for {target!r}")
        for point in points:
            point.set_out_of_service(self, ts_ns, on, user, reason)
            cond = self.t.conditions.get(point.key)
            if cond is not None:  # pending delays die; evaluation restarts from fresh samples
                cond.pending_on = cond.pending_off = None
        return self.drain()

    def set_flags(self, flags: Iterable[Flag], ts_ns: int) -> list[AlarmEvent]:
        """Conditions found by periodic checks (calibration, clocks; see ``flags``)."""
        if self.clock.grace is not None:  # a time read before a clock step, used after it
            ts_ns = self.clock.restamp_time(ts_ns)
        for flag in flags:
            cond = self.t.conditions.get(flag.key)
            if not isinstance(cond, FlagRule):
                raise AlarmError(f"{flag.key!r} is not a checked alarm point")
            cond.note = flag.note
            cond.set(self, ts_ns, flag.raw, flag.value)
        return self.drain()

    def set_conditions(self, reports: Iterable[Report], ts_ns: int) -> list[AlarmEvent]:
        """System conditions found by a check (``monitor.alarms.system``).

        A point not yet known is made, with the report's priority and on-delay
        (else ``alarms.system``'s); a point of the configuration's rules is refused.
        An on-delay runs from ``since_ns`` where the part knows when its problem
        began, but never from before the last report that said it did not hold.
        """
        if self.clock.grace is not None:  # a time read before a clock step, used after it
            ts_ns = self.clock.restamp_time(ts_ns)
        t = self.t
        for r in reports:
            cond = t.system.get(r.point)
            if cond is None:
                if r.point in t.conds or (r.point not in t.lives and t.lookup(r.point)):
                    raise AlarmError(f"{r.point!r} is an alarm point of the configuration, "
                                     "not a system condition")
                sys = self.config.system
                if r.priority is not None and r.priority not in PRIORITIES:
                    raise AlarmError(f"priority must be one of {', '.join(PRIORITIES)}")
                try:
                    cond = declare(t, r.point, r.priority or str(sys.priority),
                                   sys.delay if r.on_delay_s is None else r.on_delay_s)
                except ValueError as err:
                    raise AlarmError(str(err)) from err
            cond.note = r.detail
            if not r.active:
                self._clear_seen[r.point] = ts_ns
                cond.set(self, ts_ns, False, r.value)
                continue
            start = ts_ns
            if r.since_ns is not None and not cond.active and cond.pending_on is None:
                # a time of the part's from before a clock step is on the old time base
                floor = max(self._clear_seen.get(r.point, r.since_ns), self.stepped_at or 0)
                start = min(max(r.since_ns, floor), ts_ns)
            cond.set(self, start, True, r.value)
            if start < ts_ns:
                cond.advance(self, ts_ns, True)
        return self.drain()

    def retire(self, point: AlarmPoint, ts_ns: int) -> None:
        """A point from the log whose rule is no longer configured (see rebuild)."""
        if point.state is not AlarmState.NORMAL:
            point.retire(self, ts_ns)
