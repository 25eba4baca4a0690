"""Counting and logging of unusable MQTT payloads, per topic, once per burst.

A sensor that starts sending garbage sends it many times a second; the log
gets one line when a burst starts on a topic and one when it ends (with the
count), while the counters keep every occurrence for the metrics.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from monitor.logs import log_event


@dataclass
class _Burst:
    started: float
    last: float
    count: int
    kind: str


class PayloadProblems:
    """Per-topic counters of unusable payloads (kind: bad_json, bad_value, missing_field...)."""

    def __init__(
        self,
        logger: logging.Logger,
        connection: str,
        quiet: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = logger
        self.connection = connection
        self.quiet = quiet  # a burst ends after this long without a problem on its topic
        self.clock = clock
        self.by_topic: Counter[str] = Counter()
        self.by_kind: Counter[str] = Counter()
        self._bursts: dict[str, _Burst] = {}

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    def record(self, topic: str, kind: str, detail: str) -> None:
        self.by_topic[topic] += 1
        self.by_kind[kind] += 1
        now = self.clock()
        burst = self._bursts.get(topic)
        if burst is not None and now - burst.last < self.quiet:
            burst.count += 1
            burst.last = now
            return
        if burst is not None:
            self._end(topic, burst)
        self._bursts[topic] = _Burst(now, now, 1, kind)
        log_event(self.log, logging.WARNING, "unusable MQTT payload", connection=self.connection,
                  topic=topic, kind=kind, detail=detail)

    def sweep(self) -> None:
        """Close bursts that have gone quiet (called periodically by the driver)."""
        now = self.clock()
        for topic, burst in list(self._bursts.items()):
            if now - burst.last >= self.quiet:
                self._end(topic, burst)
                del self._bursts[topic]

    def _end(self, topic: str, burst: _Burst) -> None:
        if burst.count > 1:
            log_event(self.log, logging.WARNING, "unusable MQTT payloads stopped",
                      connection=self.connection, topic=topic, kind=burst.kind,
                      count=burst.count, seconds=round(burst.last - burst.started, 1))
