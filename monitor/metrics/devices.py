"""Per-device health from the drivers' ``DeviceStatus``: up, polls, errors, poll durations.

Drivers append each poll's duration to ``DeviceStatus.poll_durations``; the
collector drains that list at scrape time into cumulative histogram buckets,
so the poll path does one list append and no Prometheus bookkeeping.
Draining and copying happen in ``prepare`` on the event loop thread, so they
never race with a driver; rendering may then run in a worker thread.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from monitor.drivers.base import DeviceStatus, Driver

#: Seconds. Modbus TCP polls on a LAN take a few ms; RTU at 9600 baud and timeouts take up to s.
POLL_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)
DEVICE_LABELS = ("device", "connection", "driver", "location")


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(POLL_BUCKETS) + 1))
    total: float = 0.0

    def observe_all(self, durations: Sequence[float]) -> None:
        for value in durations:
            if math.isnan(value):
                continue
            self.counts[bisect.bisect_left(POLL_BUCKETS, value)] += 1
            self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, count in zip((*POLL_BUCKETS, math.inf), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == math.inf else repr(bound), float(running)))
        return out


class DeviceCollector(Collector):
    """Reads ``driver.status`` of every driver of the runtime at scrape time."""

    def __init__(self, drivers: Callable[[], Sequence[Driver]], locations: dict[str, str]) -> None:
        self._drivers = drivers
        self._locations = locations  # device name -> location name
        self._histograms: dict[str, _Histogram] = {}
        self._snapshot: list[tuple[tuple[str, str, str, str], DeviceStatus]] | None = None

    def describe(self) -> list[Metric]:
        return []

    def _labels(self, driver: Driver, status: DeviceStatus) -> tuple[str, str, str, str]:
        conn = driver.connection
        return (status.name, str(getattr(conn, "name", "")), str(getattr(conn, "driver", "")),
                self._locations.get(status.name, ""))

    def prepare(self) -> None:
        """On the event loop: drain the poll durations and copy each device's status."""
        snapshot = []
        for driver in self._drivers():
            for status in driver.status.values():
                hist = self._histograms.setdefault(status.name, _Histogram())
                drained, status.poll_durations = status.poll_durations, []
                hist.observe_all(drained)
                copy = DeviceStatus(status.name, status.available, status.last_error,
                                    status.last_success_ns, status.polls, status.errors.copy(),
                                    status.overruns, status.last_poll_seconds)
                snapshot.append((self._labels(driver, status), copy))
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("cleanroom_device_up", "1 if the device answered its last poll",
                               labels=DEVICE_LABELS)
        polls = CounterMetricFamily("cleanroom_device_polls", "Polls of the device, successful "
                                    "or not", labels=DEVICE_LABELS)
        failures = CounterMetricFamily("cleanroom_device_poll_failures", "Failed polls of the "
                                       "device (present from the start, for rate())",
                                       labels=DEVICE_LABELS)
        errors = CounterMetricFamily("cleanroom_device_poll_errors", "Failed polls of the "
                                     "device by kind (timeout, exception, disconnected...)",
                                     labels=(*DEVICE_LABELS, "kind"))
        overruns = CounterMetricFamily("cleanroom_device_poll_overruns", "Poll ticks skipped "
                                       "because the previous poll of the device still ran",
                                       labels=DEVICE_LABELS)
        success = GaugeMetricFamily("cleanroom_device_last_success_timestamp_seconds",
                                    "UTC time of the device's last successful poll",
                                    labels=DEVICE_LABELS)
        duration = HistogramMetricFamily("cleanroom_device_poll_duration_seconds",
                                         "Time one poll of the device took, including retries",
                                         labels=DEVICE_LABELS)
        if self._snapshot is None:
            self.prepare()
        snapshot, self._snapshot = self._snapshot or [], None
        for labels, status in snapshot:
            up.add_metric(labels, 1.0 if status.available else 0.0)
            polls.add_metric(labels, float(status.polls))
            overruns.add_metric(labels, float(status.overruns))
            failures.add_metric(labels, float(sum(status.errors.values())))
            for kind, count in sorted(status.errors.items()):
                errors.add_metric((*labels, kind), float(count))
            if status.last_success_ns is not None:
                success.add_metric(labels, status.last_success_ns * 1e-9)
            hist = self._histograms[status.name]
            duration.add_metric(labels, hist.buckets(), hist.total)
        yield from (up, polls, failures, errors, overruns, success, duration)
