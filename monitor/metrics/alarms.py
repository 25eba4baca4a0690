"""Alarm states per rule, counts by priority, levels per location/channel, limits in force.

Read from the alarm service at scrape time. Numeric codes, for alert rules
and dashboards:

* ``cleanroom_alarm_state``: 0 normal, 1 active unacknowledged, 2 active
  acknowledged, 3 returned to normal unacknowledged (ISA-18.2).
* ``cleanroom_location_alarm_level`` / ``cleanroom_channel_alarm_level``:
  0 normal, 1 alert limit, 2 action limit, 3 no data (stale, no
  communication, device fault) while no action-limit alarm holds.

The engine's own counters (``cleanroom_alarm_readings_ignored_total{reason}``,
``..._not_compared_total{reason}``, clock steps, held and restamped readings,
events written and pending, live points) say what it did not evaluate and
why; they restart from zero with each runtime (a reload).

Limits are exported in the same base units as the readings
(``cleanroom_alarm_limit_pascals`` beside ``cleanroom_reading_pascals``), for
the limit lines of the dashboards; they follow the location state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.api.alarmview import ACTIVE_STATES, UNACKED_STATES, AlarmAccess
from monitor.config.alarms import Priority
from monitor.runtime import Runtime

from .readings import CHANNEL_LABELS, particle_size
from .units import PARTICLES, base_unit

ALARM_LABELS = ("point", "channel", "location", "rule", "level", "priority")
LOCATION_LABELS = ("site", "room", "location", "grade")
STATE_CODE = {"normal": 0, "active_unack": 1, "active_ack": 2, "rtn_unack": 3}
LEVEL_CODE = {"normal": 0, "alert": 1, "action": 2, "no_data": 3}


class AlarmCollector(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        access = AlarmAccess(self._runtime)
        yield from self._points(access)
        yield from self._levels(access)
        yield from self._limits(access)
        yield from self._engine(access)

    def _engine(self, access: AlarmAccess) -> Iterator[Metric]:
        """The engine's own counters: what it ignored, held, moved and wrote (this runtime)."""
        service = access.service
        if service is None:
            return
        stats = service.stats()
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
        live.add_metric((), float(len(service.engine.t.lives)))
        yield from (pending, live)

    def _points(self, access: AlarmAccess) -> Iterator[Metric]:
        fam = {
            "state": GaugeMetricFamily(
                "cleanroom_alarm_state", "ISA-18.2 state of an alarm point: 0 normal, 1 active "
                "unacknowledged, 2 active acknowledged, 3 returned unacknowledged",
                labels=ALARM_LABELS),
            "active": GaugeMetricFamily(
                "cleanroom_alarm_active", "1 while the alarm condition of a point holds",
                labels=ALARM_LABELS),
            "unacked": GaugeMetricFamily(
                "cleanroom_alarm_unacknowledged", "1 while an alarm awaits acknowledgement",
                labels=ALARM_LABELS),
            "shelved": GaugeMetricFamily(
                "cleanroom_alarm_shelved", "1 while a point is shelved", labels=ALARM_LABELS),
            "suppressed": GaugeMetricFamily(
                "cleanroom_alarm_suppressed", "1 while a point is suppressed by maintenance "
                "or out of service", labels=ALARM_LABELS),
        }
        active: Counter[str] = Counter()
        unacked: Counter[str] = Counter()
        for p in access.points():
            state, mode = str(p.state), str(p.mode)
            labels = (p.key, p.channel, p.location, p.rule, str(p.level), p.priority)
            fam["state"].add_metric(labels, float(STATE_CODE.get(state, 0)))
            fam["active"].add_metric(labels, 1.0 if state in ACTIVE_STATES else 0.0)
            fam["unacked"].add_metric(labels, 1.0 if state in UNACKED_STATES else 0.0)
            fam["shelved"].add_metric(labels, 1.0 if mode == "shelved" else 0.0)
            fam["suppressed"].add_metric(
                labels, 1.0 if mode in ("suppressed", "out_of_service") else 0.0)
            if state in ACTIVE_STATES:
                active[p.priority] += 1
            if state in UNACKED_STATES:
                unacked[p.priority] += 1
        yield from fam.values()
        counts = GaugeMetricFamily("cleanroom_alarms_active", "Alarms whose condition holds, "
                                   "by priority", labels=("priority",))
        waiting = GaugeMetricFamily("cleanroom_alarms_unacknowledged", "Alarms awaiting "
                                    "acknowledgement, by priority", labels=("priority",))
        for priority in Priority:
            counts.add_metric((priority.value,), float(active[priority.value]))
            waiting.add_metric((priority.value,), float(unacked[priority.value]))
        yield counts
        yield waiting

    def _levels(self, access: AlarmAccess) -> Iterator[Metric]:
        loaded = self._runtime.loaded
        site = loaded.config.site.id
        loc_level = GaugeMetricFamily(
            "cleanroom_location_alarm_level", "Worst alarm level of a location: 0 normal, "
            "1 alert, 2 action, 3 no data", labels=LOCATION_LABELS)
        in_op = GaugeMetricFamily(
            "cleanroom_location_in_operation", "1 in operation, 0 at rest (the state decides "
            "which limits apply)", labels=LOCATION_LABELS)
        maint = GaugeMetricFamily("cleanroom_location_maintenance", "1 while a location is in "
                                  "maintenance (its alarms are suppressed)",
                                  labels=LOCATION_LABELS)
        for name, (room, _loc) in loaded.locations.items():
            labels = (site, room.name, name, room.grade)
            loc_level.add_metric(labels, float(LEVEL_CODE[access.location_level(name)]))
            in_op.add_metric(labels, 1.0 if access.location_state(name) == "in_operation"
                             else 0.0)
            maint.add_metric(labels, 1.0 if access.maintenance(name) else 0.0)
        yield from (loc_level, in_op, maint)
        ch_level = GaugeMetricFamily(
            "cleanroom_channel_alarm_level", "Worst alarm level of a channel: 0 normal, "
            "1 alert, 2 action, 3 no data", labels=CHANNEL_LABELS)
        for info in loaded.channels.values():
            ch_labels = (info.site, info.room, info.location, info.grade, info.device, info.id,
                         info.spec.quantity)
            ch_level.add_metric(ch_labels, float(LEVEL_CODE[access.channel_level(info.id)]))
        yield ch_level

    def _limits(self, access: AlarmAccess) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily] = {}
        for info in self._runtime.loaded.channels.values():
            limits = access.limits(info.id)
            base = base_unit(info.spec.unit)
            if not limits or base is None:
                continue
            name = f"cleanroom_alarm_limit_{base.suffix}"
            particles = base.suffix == PARTICLES
            family = families.get(name)
            if family is None:
                extra = ("size_um",) if particles else ()
                family = families[name] = GaugeMetricFamily(
                    name, f"Alarm limit in force, in {base.suffix.replace('_', ' ')}; level "
                    "alert/action, bound high/low", labels=(*CHANNEL_LABELS, *extra, "level",
                                                           "bound"))
            labels: tuple[str, ...] = (info.site, info.room, info.location, info.grade,
                                       info.device, info.id, info.spec.quantity)
            if particles:
                labels = (*labels, particle_size(info.spec.quantity))
            for key in ("high_alert", "high_action", "low_alert", "low_action"):
                value: Any = limits.get(key)
                if value is None:
                    continue
                bound, level = key.split("_")
                family.add_metric((*labels, level, bound), base.convert(float(value)))
        yield from families.values()
