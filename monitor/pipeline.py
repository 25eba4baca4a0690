"""The path every reading takes: driver -> pipeline -> stores and alarm engine -> listeners.

``ingest`` is synchronous and called from the drivers' tasks: it only hands
readings to the stores' buffers and runs the pure alarm core, so a poll never
waits on a disk, a network or a notifier. Alarm events go to listeners
(notifiers' queues, the demo printer, the metrics) that must not block either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from monitor.latest import LatestReadings
from monitor.model import Reading
from monitor.storage.base import ReadingStore

log = logging.getLogger(__name__)

EventListener = Callable[[Sequence[Any]], None]
ReadingListener = Callable[[Sequence[Reading]], None]


class AlarmEvaluator(Protocol):
    """What the pipeline needs of the alarm engine (see monitor/alarms)."""

    def evaluate(self, readings: Sequence[Reading]) -> Sequence[Any]: ...

    def tick(self, now_ns: int) -> Sequence[Any]: ...


class Pipeline:
    def __init__(
        self,
        stores: Sequence[ReadingStore],
        alarms: AlarmEvaluator | None = None,
    ) -> None:
        self.stores = list(stores)
        self.alarms = alarms
        self.latest = LatestReadings()  # each channel's latest reading, as columns
        self.event_listeners: list[EventListener] = []
        self.reading_listeners: list[ReadingListener] = []
        self.accepted = 0
        self.transform: Callable[[Sequence[Reading]], Sequence[Reading]] | None = None

    def ingest(self, readings: Sequence[Reading]) -> None:
        if not readings:
            return
        if self.transform is not None:
            readings = self.transform(readings)
        for store in self.stores:
            store.append(readings)
        self.accepted += len(readings)
        self.latest.put(readings)
        for listener in self.reading_listeners:
            listener(readings)
        if self.alarms is not None:
            self._publish(self.alarms.evaluate(readings))

    def tick(self, now_ns: int) -> None:
        """Time passing without readings matters too (stale data, delays, shelving expiry)."""
        if self.alarms is not None:
            self._publish(self.alarms.tick(now_ns))

    def _publish(self, events: Sequence[Any]) -> None:
        if not events:
            return
        for listener in self.event_listeners:
            try:
                listener(events)
            except Exception:  # a listener bug must not stop evaluation
                log.exception("event listener failed")
