"""The alarm engine's state and what every part of it shares: events, location state,
maintenance, views.

``EngineBase`` holds the runtime tables, counters and the clock watch, makes
events (the ``Emitter`` protocol of points and conditions), applies location
states and ends maintenance periods. ``core.EngineCore`` adds readings and
time; ``engine.AlarmEngine`` the operator actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitor.config.alarms import AlarmsConfig

from .channels import ChannelRt
from .events import AlarmEvent, EventKind
from .location import LocationTracker
from .states import AlarmPoint
from .table import Tables
from .timebase import ClockWatch
from .views import AlarmView, active_views

NS = 1_000_000_000
SYSTEM = "system"


@dataclass
class Counters:
    evaluated: int = 0
    out_of_order: int = 0  # duplicate or older timestamp: ignored
    unknown_channel: int = 0
    bad_value: int = 0  # quality good but value None/NaN/inf/not a number
    not_good: int = 0  # quality other than good
    maintenance: int = 0  # marked maintenance by maintenance mode: evaluated, suppressed
    clock_steps: int = 0  # steps of the host clock seen; timers moved with each
    held: int = 0  # readings that went back, held until a clock step was confirmed
    restamped: int = 0  # stamped before a step, delivered after it: moved by the step
    full: int = 0  # evaluated on the full path (the rest: within their channel's fast band)


class EngineBase:
    """State of every alarm point of one configuration. Single-threaded."""

    def __init__(self, tables: Tables, config: AlarmsConfig, *, start_ns: int,
                 id_prefix: str = "", next_seq: int = 1, next_alarm_id: int = 1) -> None:
        self.t = tables
        tables.emitter = self
        self.config = config
        self.id_prefix = id_prefix
        self.next_seq = next_seq
        self.next_alarm_id = next_alarm_id
        self.peak_interval_ns = int(config.peak_event_interval * NS)
        self.max_shelve_ns = int(config.max_shelve * NS)
        self.counters = Counters()
        self.maintenance = tables.maintenance  # target -> until (None: open-ended)
        self.now_ns = start_ns  # the latest tick: the engine's own clock
        self._out: list[AlarmEvent] = []
        self._channels = tables.channels
        for ch in tables.channels.values():
            ch.last_good_ts = start_ns
            ch.refresh()
        devices = {ch.kind.device.name for ch in tables.channels.values()}
        self.clock = ClockWatch(quorum_devices=min(2, len(devices)))
        self._flushing = False
        self.stepped_at: int | None = None  # new time of the last clock step
        self.timers: dict[Any, None] = {}  # conditions whose delay may run (Condition.update)

    # --- event creation (the Emitter protocol) ---------------------------------------------

    def new_alarm_id(self) -> int:
        alarm_id = self.next_alarm_id
        self.next_alarm_id += 1
        return alarm_id

    def emit(self, src: AlarmPoint | None, ts_ns: int, kind: EventKind, **fields: Any) -> None:
        seq = self.next_seq
        self.next_seq = seq + 1
        if src is not None:
            point = src
            fields.setdefault("location_state", self.t.locations[point.location].state
                              if point.location in self.t.locations else None)
            event = AlarmEvent(
                seq=seq, id=f"{self.id_prefix}{seq}", ts_ns=ts_ns, kind=kind,
                alarm_id=point.alarm_id, point=point.key, location=point.location,
                channel=point.channel, rule=point.rule, level=point.level,
                priority=point.priority, mode=point.mode, **fields,
            )
        else:
            event = AlarmEvent(seq=seq, id=f"{self.id_prefix}{seq}", ts_ns=ts_ns, kind=kind,
                               **fields)
        self._out.append(event)

    def drain(self) -> list[AlarmEvent]:
        """Events made since the last drain, in seq order."""
        out = self._out
        if not out:
            return []
        self._out = []
        return out

    # --- location state ------------------------------------------------------------------

    def apply_location(self, tracker: LocationTracker, ts: int, user: str,
                       reason: str | None, *, force: bool = False, initial: bool = False) -> None:
        """Bring the location to the state its tracker wants; record a change.

        ``force`` records the state even if unchanged (a manual setting);
        ``initial`` marks the first record of a location in this log.
        """
        rt = tracker.rt
        state, source = tracker.wanted(ts)
        manual_changed = (source == "manual") != (tracker.source == "manual")
        clean_up = None
        if (state == "at_rest" and rt.state == "in_operation" and tracker.clean_up_ns
                and source != "manual"):
            # operations ended: in-operation limits hold until the clean-up period is over
            since = tracker.rest_pending_since
            if since is None:
                since = tracker.rest_pending_since = ts
            if ts < since + tracker.clean_up_ns:
                return
            ts, clean_up = since + tracker.clean_up_ns, since
        tracker.rest_pending_since = None
        if state == rt.state and not manual_changed and not force:
            tracker.source = source
            return
        previous = rt.state
        rt.set_state(state)
        tracker.source = source
        manual = tracker.manual
        details: dict[str, Any] = {"source": source, "previous": None if initial else previous}
        if source == "manual" and manual is not None:
            details["until_ns"] = manual.until_ns
        if clean_up is not None:
            details["clean_up_from_ns"] = clean_up
        self.emit(None, ts, EventKind.LOCATION_STATE, point=f"location:{rt.name}",
                  location=rt.name, location_state=state, user=user,
                  reason=reason or source, details=details)

    # --- maintenance ---------------------------------------------------------------------

    def in_maintenance(self, point: AlarmPoint) -> bool:
        return self.t.in_maintenance(point)

    def maintenance_target(self, channel: str, device: str, location: str,
                           ts: int) -> str | None:
        """The maintenance target covering this channel at ``ts`` (channel first), or None."""
        m = self.maintenance
        for target in (channel, device, location):
            if target in m:
                until = m[target]
                if until is None or ts < until:
                    return target
        return None

    def _maintained(self, ch: ChannelRt, ts: int) -> bool:
        kind = ch.kind
        return self.maintenance_target(ch.id, kind.device.name, kind.loc.name, ts) is not None

    def end_maintenance(self, target: str, ts: int, user: str, reason: str) -> None:
        self.maintenance.pop(target, None)
        self.emit(None, ts, EventKind.MAINTENANCE, point=f"maintenance:{target}",
                  user=user, reason=reason, details={"target": target, "on": False})
        for point in self.t.live_points():  # an idle point learns it when it is made
            if point.suppressed and not self.in_maintenance(point):
                point.set_suppressed(self, ts, False, user=user, reason=reason, target=target)

    # --- views ---------------------------------------------------------------------------

    def active(self) -> list[AlarmView]:
        """Alarms not in normal state, and shelved or out-of-service points."""
        return active_views([*self.t.live_points(), *self.t.idle_in_maintenance()])
