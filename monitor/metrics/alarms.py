"""Alarm counts by location, priority and level; levels per location/channel; limits in force.

Read from the alarm service at scrape time. Numeric codes, for alert rules
and dashboards:

* ``cleanroom_location_alarm_level`` / ``cleanroom_channel_alarm_level``:
  0 normal, 1 alert limit, 2 action limit, 3 no data (stale, no
  communication, device fault) while no action-limit alarm holds.
* ``cleanroom_alarm_state`` (only with ``http.metrics_alarm_points``):
  0 normal, 1 active unacknowledged, 2 active acknowledged, 3 returned to
  normal unacknowledged (ISA-18.2).

Alarms are exported as counts: site-wide by priority
(``cleanroom_alarms_active{priority}``, ``..._unacknowledged``, ``..._shelved``,
``..._suppressed``, every priority always present) and per location, level and
priority (``cleanroom_location_alarms_active{site,room,location,grade,level,
priority}`` and the same three others), the latter only where the count is not
zero, so that a site in order exports none. A series per alarm point (five
families, one series per point and family: 320,000 lines at 2,000 devices, most
of a /metrics answer) is opt-in through ``http.metrics_alarm_points``; the web
page and ``/api/alarms`` list the alarms themselves.

The engine's own counters (``cleanroom_alarm_readings_ignored_total{reason}``,
``..._not_compared_total{reason}``, clock steps, held and restamped readings,
events written and pending, live points) say what it did not evaluate and
why; they restart from zero with each runtime (a reload).

Limits are exported in the same base units as the readings
(``cleanroom_alarm_limit_pascals`` beside ``cleanroom_reading_pascals``), for
the limit lines of the dashboards; they follow the location state.

Everything is read in ``prepare`` on the event loop (the engine is not
thread-safe); ``collect`` only builds the families, possibly in a worker.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.api.alarmview import ACTIVE_STATES, UNACKED_STATES, AlarmAccess, level_of
from monitor.config.alarms import Priority
from monitor.runtime import Runtime

from .encode import ChannelFamily, SeriesFamily, label_part
from .labels import CHANNEL_LABELS, LOCATION_LABELS, SiteSeries
from .units import PARTICLES

ALARM_LABELS = ("point", "channel", "location", "rule", "level", "priority")
COUNT_LABELS = (*LOCATION_LABELS, "level", "priority")
STATE_CODE = {"normal": 0, "active_unack": 1, "active_ack": 2, "rtn_unack": 3}
LEVEL_CODE = {"normal": 0, "alert": 1, "action": 2, "no_data": 3}
LIMIT_KEYS = ("high_alert", "high_action", "low_alert", "low_action")
_LIMIT_LABELS = {key: ',level="{1}",bound="{0}"'.format(*key.split("_")) for key in LIMIT_KEYS}
COUNTS = (
    ("active", "Alarms whose condition holds (acknowledged or not)"),
    ("unacknowledged", "Alarms awaiting acknowledgement (active, or returned to normal)"),
    ("shelved", "Alarm points shelved by an operator"),
    ("suppressed", "Alarm points suppressed by maintenance or out of service"),
)
MAX_POINT_PARTS = 1_000_000  # cached label parts of points (opt-in); bounds a leak


def _kinds(state: str, mode: str) -> tuple[str, ...]:
    """Which of the COUNTS an alarm point in this state and mode counts in."""
    out = []
    if state in ACTIVE_STATES:
        out.append("active")
    if state in UNACKED_STATES:
        out.append("unacknowledged")
    if mode == "shelved":
        out.append("shelved")
    elif mode in ("suppressed", "out_of_service"):
        out.append("suppressed")
    return tuple(out)


@dataclass(slots=True)
class _Snapshot:
    """What one scrape exports of the alarm service, copied on the event loop."""

    stats: dict[str, Any] | None
    live: int
    by_priority: dict[str, Counter[str]] = field(default_factory=dict)
    by_location: dict[str, Counter[tuple[str, str, str]]] = field(default_factory=dict)
    location_levels: dict[str, str] = field(default_factory=dict)
    channel_levels: dict[str, str] = field(default_factory=dict)
    in_operation: dict[str, bool] = field(default_factory=dict)
    maintenance: dict[str, bool] = field(default_factory=dict)
    engine: Any = None  # read in collect() for the limits only: see _limits
    points: list[tuple[str, str, str, str, str, str, str, str]] = field(default_factory=list)


class AlarmCollector(Collector):
    def __init__(self, runtime: Runtime, series: SiteSeries, *, points: bool = False) -> None:
        self._runtime = runtime
        self._series = series
        self._points = points
        self._point_parts: dict[str, str] = {}
        self._snapshot: _Snapshot | None = None

    def describe(self) -> list[Metric]:
        return []

    def prepare(self) -> None:
        """On the event loop: every read of the engine, which a poll may change meanwhile."""
        access = AlarmAccess(self._runtime)
        service = access.service
        snap = _Snapshot(service.stats() if service is not None else None,
                         len(service.engine.t.lives) if service is not None else 0)
        by_priority = snap.by_priority = {kind: Counter() for kind, _ in COUNTS}
        by_location = snap.by_location = {kind: Counter() for kind, _ in COUNTS}
        channel_views: dict[str, list[Any]] = {}
        location_views: dict[str, list[Any]] = {}
        for view in access.active():  # points not normal, or not in service: few
            for kind in _kinds(str(view.state), str(view.mode)):
                by_priority[kind][view.priority] += 1
                by_location[kind][(view.location, str(view.level), view.priority)] += 1
            channel_views.setdefault(view.channel, []).append(view)
            location_views.setdefault(view.location, []).append(view)
        snap.channel_levels = {c: level_of(v) for c, v in channel_views.items()}
        snap.location_levels = {loc: level_of(v) for loc, v in location_views.items()}
        for name in self._series.locations:
            snap.in_operation[name] = access.location_state(name) == "in_operation"
            snap.maintenance[name] = access.maintenance(name)
        snap.engine = service.engine if service is not None else None
        if self._points:
            snap.points = [(p.key, p.channel, p.location, p.rule, str(p.level), p.priority,
                            str(p.state), str(p.mode)) for p in access.points()]
        self._snapshot = snap

    def collect(self) -> Iterator[Metric]:
        if self._snapshot is None:
            self.prepare()
        snap, self._snapshot = self._snapshot, None
        assert snap is not None
        if self._points:
            yield from self._point_families(snap)
        yield from self._counts(snap)
        yield from self._levels(snap)
        yield from self._limits(snap)
        if snap.stats is not None:
            yield from self._engine(snap.stats, snap.live)

    @staticmethod
    def _engine(stats: dict[str, Any], live_points: int) -> Iterator[Metric]:
        """The engine's own counters: what it ignored, held, moved and wrote (this runtime)."""
        evaluated = CounterMetricFamily(
            "cleanroom_alarm_readings_evaluated", "Readings the alarm engine took in (each "
            "at most once per channel and timestamp)")
        evaluated.add_metric((), float(stats["evaluated"]))
        ignored = CounterMetricFamily(
            "cleanroom_alarm_readings_ignored", "Readings the alarm engine did not evaluate: "
            "out_of_order (a duplicate, or older than its channel's last reading, with no clock "
            "step to explain it), unknown_channel (not in the configuration)",
            labels=("reason",))
        for reason in ("out_of_order", "unknown_channel"):
            ignored.add_metric((reason,), float(stats[reason]))
        uncompared = CounterMetricFamily(
            "cleanroom_alarm_readings_not_compared", "Readings evaluated for the health rules "
            "only, never compared with a limit: not_good (quality other than good), bad_value "
            "(quality good but the value None, NaN, infinite or not a number)",
            labels=("reason",))
        for reason in ("not_good", "bad_value"):
            uncompared.add_metric((reason,), float(stats[reason]))
        yield from (evaluated, ignored, uncompared)
        simple = (
            ("cleanroom_alarm_readings_maintenance", "maintenance", "Readings marked by "
             "maintenance mode: evaluated, their alarms recorded suppressed"),
            ("cleanroom_alarm_clock_steps", "clock_steps", "Steps of the host clock the alarm "
             "engine saw; every timer moved with each (event clock_step)"),
            ("cleanroom_alarm_readings_held", "held", "Readings that went back in time, held "
             "until a step of the clock was confirmed (or found out of order)"),
            ("cleanroom_alarm_readings_restamped", "restamped", "Readings stamped before a "
             "clock step and delivered after it, moved by the step for evaluation"),
            ("cleanroom_alarm_events_written", "events_written", "Alarm events written to the "
             "hash-chained alarm log"),
        )
        for name, key, text in simple:
            family = CounterMetricFamily(name, text)
            family.add_metric((), float(stats[key]))
            yield family
        pending = GaugeMetricFamily("cleanroom_alarm_events_pending", "Alarm events not yet "
                                    "written to the alarm log (kept in memory and retried)")
        pending.add_metric((), float(stats["events_pending"]))
        live = GaugeMetricFamily("cleanroom_alarm_points_live", "Alarm points the engine keeps "
                                 "as objects (active, pending, shelved...); the others are "
                                 "normal and idle")
        live.add_metric((), float(live_points))
        yield from (pending, live)

    def _point_families(self, snap: _Snapshot) -> Iterator[Metric]:
        """One series per alarm point and family (opt-in: http.metrics_alarm_points)."""
        fam = {
            "state": SeriesFamily(
                "cleanroom_alarm_state", "ISA-18.2 state of an alarm point: 0 normal, 1 active "
                "unacknowledged, 2 active acknowledged, 3 returned unacknowledged",
                ALARM_LABELS),
            "active": SeriesFamily(
                "cleanroom_alarm_active", "1 while the alarm condition of a point holds",
                ALARM_LABELS),
            "unacked": SeriesFamily(
                "cleanroom_alarm_unacknowledged", "1 while an alarm awaits acknowledgement",
                ALARM_LABELS),
            "shelved": SeriesFamily(
                "cleanroom_alarm_shelved", "1 while a point is shelved", ALARM_LABELS),
            "suppressed": SeriesFamily(
                "cleanroom_alarm_suppressed", "1 while a point is suppressed by maintenance "
                "or out of service", ALARM_LABELS),
        }
        parts = self._point_parts
        if len(parts) > MAX_POINT_PARTS:
            parts.clear()
        for key, channel, location, rule, level, priority, state, mode in snap.points:
            part = parts.get(key)
            if part is None:
                part = parts[key] = label_part(ALARM_LABELS,
                                               (key, channel, location, rule, level, priority))
            fam["state"].add(part, float(STATE_CODE.get(state, 0)))
            fam["active"].add(part, 1.0 if state in ACTIVE_STATES else 0.0)
            fam["unacked"].add(part, 1.0 if state in UNACKED_STATES else 0.0)
            fam["shelved"].add(part, 1.0 if mode == "shelved" else 0.0)
            fam["suppressed"].add(part, 1.0 if mode in ("suppressed", "out_of_service") else 0.0)
        yield from fam.values()

    def _counts(self, snap: _Snapshot) -> Iterator[Metric]:
        for kind, text in COUNTS:
            site = GaugeMetricFamily(f"cleanroom_alarms_{kind}", f"{text}, by priority",
                                     labels=("priority",))
            for priority in Priority:
                site.add_metric((priority.value,), float(snap.by_priority[kind][priority.value]))
            yield site
        for kind, text in COUNTS:
            per_location = GaugeMetricFamily(
                f"cleanroom_location_alarms_{kind}", f"{text}, by location, level "
                "(alert, action, health) and priority; absent where none",
                labels=COUNT_LABELS)
            for (location, level, prio), count in sorted(snap.by_location[kind].items()):
                labels = self._series.locations.labels(location)
                per_location.add_metric((*labels, level, prio), float(count))
            yield per_location

    def _levels(self, snap: _Snapshot) -> Iterator[Metric]:
        locations = self._series.locations
        loc_level = ChannelFamily(
            "cleanroom_location_alarm_level", "Worst alarm level of a location: 0 normal, "
            "1 alert, 2 action, 3 no data", LOCATION_LABELS, locations)
        in_op = ChannelFamily(
            "cleanroom_location_in_operation", "1 in operation, 0 at rest (the state decides "
            "which limits apply)", LOCATION_LABELS, locations)
        maint = ChannelFamily("cleanroom_location_maintenance", "1 while a location is in "
                              "maintenance (its alarms are suppressed)", LOCATION_LABELS,
                              locations)
        levels = snap.location_levels
        for i, name in enumerate(locations):
            loc_level.add_channel(i, float(LEVEL_CODE[levels.get(name, "normal")]))
            in_op.add_channel(i, 1.0 if snap.in_operation.get(name) else 0.0)
            maint.add_channel(i, 1.0 if snap.maintenance.get(name) else 0.0)
        yield from (loc_level, in_op, maint)
        ch_level = ChannelFamily(
            "cleanroom_channel_alarm_level", "Worst alarm level of a channel: 0 normal, "
            "1 alert, 2 action, 3 no data", CHANNEL_LABELS, self._series.channels)
        levels = snap.channel_levels
        add_index, add_value = ch_level.appenders()
        for i, cid in enumerate(self._series.channels.ids):
            add_index(i)
            add_value(LEVEL_CODE[levels.get(cid, "normal")])
        yield ch_level

    def _limits(self, snap: _Snapshot) -> Iterator[Metric]:
        """The limits in force of every channel, in its value family's unit.

        Read here, possibly in a worker thread, rather than in ``prepare``: 20,000
        channels' limits take ~0.3 s, too long to hold the event loop. What is read
        cannot be torn: the engine's limit mappings are fixed for the runtime (one
        per location state) and a location's state is one attribute; a state
        changed during the scrape shows its new limits, as the next scrape would.
        Later value rules of a channel override earlier ones (as AlarmAccess.limits).
        """
        if snap.engine is None:
            return
        tables = snap.engine.t.channels
        table = self._series.channels
        families: dict[str, ChannelFamily] = {}
        bases = table.kind_bases
        for i, (cid, kind) in enumerate(zip(table.ids, table.kinds, strict=True)):
            base = bases[kind]
            if base is None:
                continue
            rt = tables.get(cid)
            if rt is None:
                continue
            in_force = rt.limits_in_force()
            if not in_force:
                continue
            found: dict[str, float] = {}
            for values in in_force:
                for key in LIMIT_KEYS:
                    value = values.get(key)
                    if value is not None:
                        found[key] = float(value)
            if not found:
                continue
            family = families.get(base.suffix)
            if family is None:
                family = families[base.suffix] = ChannelFamily(
                    f"cleanroom_alarm_limit_{base.suffix}", "Alarm limit in force, in "
                    f"{base.suffix.replace('_', ' ')}; level alert/action, bound high/low",
                    self._limit_labels(base.suffix), table, value=base.suffix == PARTICLES,
                    suffixed=True)
            for key, value in found.items():
                family.add_channel(i, base.convert(value), _LIMIT_LABELS[key])
        yield from families.values()

    @staticmethod
    def _limit_labels(suffix: str) -> tuple[str, ...]:
        extra = ("size_um",) if suffix == PARTICLES else ()
        return (*CHANNEL_LABELS, *extra, "level", "bound")
