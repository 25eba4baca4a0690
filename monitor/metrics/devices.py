"""Device health from the drivers' ``DeviceStatus``: up, polls, errors, time spent polling,
and the distribution of poll durations per driver.

Poll durations are exported two ways, both read from the fixed bucket counts
each ``DeviceStatus`` keeps in place:

- per device, a counter of the seconds spent polling it
  (``cleanroom_device_poll_seconds_total``); with ``cleanroom_device_polls_total``
  it gives the device's mean poll duration over any window, which is what finds
  the slow device or the one hitting its timeout;
- per driver (``modbus_tcp``, ``modbus_rtu``...), the histogram
  ``cleanroom_device_poll_duration_seconds``, the bucket counts of its devices
  summed at scrape time: the shape of the distribution, for choosing timeouts.

A histogram per device was 15 series per device (32,000 lines, about a quarter
of a /metrics answer at 2,000 devices) for a percentile nobody reads per
device; now a device costs one series for its poll time, and the histogram a
fixed 16 per driver kind. The copy happens in ``prepare`` on the event loop
thread, so it never races with a driver; rendering may then run in a worker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from operator import add

from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.drivers.base import POLL_BUCKETS, DeviceStatus, Driver

from .encode import SeriesFamily, label_part

DEVICE_LABELS = ("device", "connection", "driver", "location")
_LE = (*(repr(bound) for bound in POLL_BUCKETS), "+Inf")


@dataclass(slots=True)
class _Histogram:
    """Poll durations of every device of one driver kind, the bucket counts summed device by
    device on the event loop (no copy of each device's counts is kept until encoding)."""

    counts: list[int]
    total: float = 0.0

    def add(self, status: DeviceStatus) -> None:
        self.counts = list(map(add, self.counts, status.poll_buckets))
        self.total += status.poll_seconds

    def buckets(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for le, count in zip(_LE, self.counts, strict=True):
            running += count
            out.append((le, float(running)))
        return out


class DeviceCollector(Collector):
    """Reads ``driver.status`` of every driver of the runtime at scrape time."""

    def __init__(self, drivers: Callable[[], Sequence[Driver]], locations: dict[str, str]) -> None:
        self._drivers = drivers
        self._locations = locations  # device name -> location name
        self._parts: dict[str, str] = {}
        self._snapshot: tuple[tuple[SeriesFamily, ...], dict[str, _Histogram]] | None = None

    def describe(self) -> list[Metric]:
        return []

    def _part(self, status: DeviceStatus, connection: str, kind: str) -> str:
        """A device's rendered label part, made on its first scrape.

        Kept by device name alone (names are unique in a configuration, and a
        reload builds a new registry): a (driver id, name) key and the label
        values beside the part were ~250 bytes a device, 0.5 MB at 2,000.
        """
        part = self._parts.get(status.name)
        if part is None:
            part = self._parts[status.name] = label_part(DEVICE_LABELS, (
                status.name, connection, kind, self._locations.get(status.name, "")))
        return part

    def prepare(self) -> None:
        """On the event loop: each device's status written into the families (values in
        arrays) and the buckets summed per driver kind. An object, an error list and a
        bucket tuple per device, kept until encoding, were ~0.6 MB of small blocks per
        scrape at 2,000 devices, made while polling allocates too."""
        up = SeriesFamily("cleanroom_device_up", "1 if the device answered its last poll",
                          DEVICE_LABELS)
        polls = SeriesFamily("cleanroom_device_polls", "Polls of the device, successful or not",
                             DEVICE_LABELS, "counter")
        failures = SeriesFamily("cleanroom_device_poll_failures", "Failed polls of the device "
                                "(present from the start, for rate())", DEVICE_LABELS, "counter")
        # a series per device and kind of error: up to thousands when a network fails, written
        # from the device's label part (library families' label prefixes are cached per series)
        errors = SeriesFamily("cleanroom_device_poll_errors", "Failed polls of the "
                              "device by kind (timeout, exception, disconnected...)",
                              DEVICE_LABELS, "counter", extra="kind")
        overruns = SeriesFamily("cleanroom_device_poll_overruns", "Poll ticks skipped because "
                                "the previous poll of the device still ran", DEVICE_LABELS,
                                "counter")
        success = SeriesFamily("cleanroom_device_last_success_timestamp_seconds",
                               "UTC time of the device's last successful poll", DEVICE_LABELS)
        seconds = SeriesFamily("cleanroom_device_poll_seconds", "Time spent polling the "
                               "device, retries and timeouts included; divided by the "
                               "increase of cleanroom_device_polls_total it is the "
                               "mean poll duration", DEVICE_LABELS, "counter")
        histograms: dict[str, _Histogram] = {}
        up_part, up_value = up.part_appenders()
        polls_part, polls_value = polls.part_appenders()
        overruns_part, overruns_value = overruns.part_appenders()
        failures_part, failures_value = failures.part_appenders()
        seconds_part, seconds_value = seconds.part_appenders()
        for driver in self._drivers():
            conn = driver.connection
            connection = str(getattr(conn, "name", ""))
            kind = str(getattr(conn, "driver", ""))
            for status in driver.status.values():
                part = self._part(status, connection, kind)
                up_part(part)
                up_value(1.0 if status.available else 0.0)
                polls_part(part)
                polls_value(status.polls)
                overruns_part(part)
                overruns_value(status.overruns)
                failures_part(part)
                if status.errors:
                    failures_value(sum(status.errors.values()))
                    for error, count in sorted(status.errors.items()):
                        errors.add(part, float(count), error)
                else:
                    failures_value(0.0)
                if status.last_success_ns is not None:
                    success.add(part, status.last_success_ns * 1e-9)
                seconds_part(part)
                seconds_value(status.poll_seconds)
                if status.poll_count:
                    hist = histograms.get(kind)
                    if hist is None:
                        hist = histograms[kind] = _Histogram([0] * len(_LE))
                    hist.add(status)
        self._snapshot = (up, polls, failures, errors, overruns, success, seconds), histograms

    def collect(self) -> Iterator[Metric]:
        duration = HistogramMetricFamily("cleanroom_device_poll_duration_seconds",
                                         "Time one poll took, including retries, over every "
                                         "device of the driver", labels=("driver",))
        if self._snapshot is None:
            self.prepare()
        assert self._snapshot is not None
        families, histograms = self._snapshot
        self._snapshot = None
        for kind in sorted(histograms):
            hist = histograms[kind]
            duration.add_metric((kind,), hist.buckets(), hist.total)
        yield from families
        yield duration
