"""Store and sink health: what is waiting to be written or sent, and what failed.

The embedded store keeps plain counters (``accepted``, ``committed``,
``commit_errors``...) and the InfluxDB sinks keep outbox figures; both are
read at scrape time. ``SinkStats`` is the narrow shape the collector needs
of a sink, so that the forwarders only have to expose attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.storage.base import ReadingStore


@runtime_checkable
class SinkStats(Protocol):
    """What an outbox forwarder (InfluxDB sink) exposes to the metrics."""

    name: str

    @property
    def outbox_depth(self) -> int:
        """Readings committed locally and not yet acknowledged by the sink."""

    def oldest_pending_ns(self) -> int | None:
        """UTC ns of the oldest reading not yet sent, None when nothing is pending."""


def _num(obj: Any, name: str) -> float | None:
    value = getattr(obj, name, None)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class StorageCollector(Collector):
    def __init__(
        self,
        stores: Callable[[], Iterable[ReadingStore]],
        sinks: Callable[[], Iterable[Any]],
        clock_ns: Callable[[], int],
    ) -> None:
        self._stores = stores
        self._sinks = sinks
        self._clock_ns = clock_ns
        self._snapshot: list[Metric] | None = None

    def describe(self) -> list[Metric]:
        return []

    def prepare(self) -> None:
        """On the event loop: the sinks' outbox queries use their own SQLite connections."""
        self._snapshot = [*self._store_metrics(), *self._sink_metrics()]

    def collect(self) -> Iterator[Metric]:
        if self._snapshot is None:
            self.prepare()
        snapshot, self._snapshot = self._snapshot or [], None
        yield from snapshot

    def _store_metrics(self) -> Iterator[Metric]:
        counters = {
            "committed": CounterMetricFamily(
                "cleanroom_store_committed_readings", "Readings committed to the store",
                labels=("store",)),
            "commit_errors": CounterMetricFamily(
                "cleanroom_store_write_errors", "Failed commits (disk full, I/O error); the "
                "readings stay in memory and are retried", labels=("store",)),
            "dropped": CounterMetricFamily(
                "cleanroom_store_dropped_readings", "Readings lost because the memory bound "
                "was hit while the disk failed", labels=("store",)),
            "invalid": CounterMetricFamily(
                "cleanroom_store_invalid_readings", "Readings stored with quality 'invalid' "
                "(NaN, infinite or not a number)", labels=("store",)),
        }
        pending = GaugeMetricFamily("cleanroom_store_pending_readings", "Readings accepted and "
                                    "not yet committed", labels=("store",))
        writable = GaugeMetricFamily("cleanroom_store_writable", "0 while commits fail",
                                     labels=("store",))
        commit = GaugeMetricFamily("cleanroom_store_last_commit_duration_seconds",
                                   "Duration of the store's last commit", labels=("store",))
        for store in self._stores():
            labels = (store.name,)
            for attr, family in counters.items():
                value = _num(store, attr)
                if value is not None:
                    family.add_metric(labels, value)
            value = _num(store, "pending")
            if value is not None:
                pending.add_metric(labels, value)
            if hasattr(store, "disk_problem"):
                writable.add_metric(labels, 0.0 if store.disk_problem else 1.0)
            value = _num(store, "last_commit_seconds")
            if value is not None:
                commit.add_metric(labels, value)
        yield from counters.values()
        yield from (pending, writable, commit)

    def _sink_metrics(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("cleanroom_outbox_pending_readings", "Readings waiting in "
                                  "the outbox of a sink", labels=("sink",))
        age = GaugeMetricFamily("cleanroom_outbox_oldest_pending_age_seconds", "Age of the "
                                "oldest reading not yet sent to a sink (0 when none is pending)",
                                labels=("sink",))
        sent = CounterMetricFamily("cleanroom_outbox_sent_readings", "Readings a sink "
                                   "acknowledged", labels=("sink",))
        errors = CounterMetricFamily("cleanroom_outbox_send_errors", "Failed sends to a sink "
                                     "(retried with backoff)", labels=("sink",))
        quarantined = GaugeMetricFamily("cleanroom_outbox_quarantined_readings", "Readings a "
                                        "sink refused as invalid, kept aside for review",
                                        labels=("sink",))
        skipped = CounterMetricFamily("cleanroom_outbox_skipped_readings", "Readings never "
                                      "sent because the outbox hit its bound (still on disk)",
                                      labels=("sink",))
        up = GaugeMetricFamily("cleanroom_outbox_sink_up", "1 if the last send to the sink "
                               "succeeded", labels=("sink",))
        now = self._clock_ns()
        for sink in self._sinks():
            labels = (str(sink.name),)
            value = _num(sink, "outbox_depth")
            if value is not None:
                depth.add_metric(labels, value)
            oldest_fn = getattr(sink, "oldest_pending_ns", None)
            if callable(oldest_fn):
                oldest = oldest_fn()
                age.add_metric(labels, max(0.0, (now - oldest) * 1e-9) if oldest else 0.0)
            for attr, family in (("sent", sent), ("send_errors", errors),
                                 ("quarantined", quarantined), ("skipped", skipped)):
                value = _num(sink, attr)
                if value is not None:
                    family.add_metric(labels, value)
            if hasattr(sink, "available"):
                up.add_metric(labels, 1.0 if sink.available else 0.0)
        yield from (depth, age, sent, errors, quarantined, skipped, up)
