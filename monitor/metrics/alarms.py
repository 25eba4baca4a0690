"""Alarm states per rule and counts by priority, read from the alarm engine at scrape time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.config.alarms import Priority
from monitor.runtime import Runtime

ALARM_LABELS = ("rule", "channel", "location", "priority")


def _text(value: Any) -> str:
    return str(getattr(value, "value", value) if value is not None else "")


class AlarmCollector(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        active = GaugeMetricFamily("cleanroom_alarm_active", "1 while the alarm condition of "
                                   "a rule holds", labels=ALARM_LABELS)
        unacked = GaugeMetricFamily("cleanroom_alarm_unacknowledged", "1 while an alarm "
                                    "awaits acknowledgement", labels=ALARM_LABELS)
        shelved = GaugeMetricFamily("cleanroom_alarm_shelved", "1 while a rule is shelved",
                                    labels=ALARM_LABELS)
        counts = GaugeMetricFamily("cleanroom_alarms_active", "Active alarms by priority",
                                   labels=("priority",))
        by_priority: Counter[str] = Counter()
        service = self._runtime.alarms
        for alarm in (service.active() if service is not None else []):
            labels = (_text(getattr(alarm, "rule", "")), _text(getattr(alarm, "channel", "")),
                      _text(getattr(alarm, "location", "")), _text(getattr(alarm, "priority", "")))
            active.add_metric(labels, 1.0 if getattr(alarm, "condition", True) else 0.0)
            unacked.add_metric(labels, 0.0 if getattr(alarm, "acknowledged", False) else 1.0)
            shelved.add_metric(labels, 1.0 if getattr(alarm, "shelved", False) else 0.0)
            by_priority[labels[3]] += 1
        for priority in Priority:
            counts.add_metric((priority.value,), float(by_priority[priority.value]))
        yield from (active, unacked, shelved, counts)
