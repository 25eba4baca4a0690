"""Reading history for the API and the trend charts, through ``monitor.storage.history``.

Queries run in a worker thread on the history reader's own connection (WAL
lets it read while the store commits), so a long query never stalls polling.
Raw readings keep their quality; buckets average good readings only and
count the others, so a chart never draws a communication error as a value.
Gaps (daemon stopped, device offline) come with the data, so "no data" is
always explained.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.audit import iso_utc

from .views import number

if TYPE_CHECKING:
    from monitor.storage.history import History, QueryResult


@dataclass(frozen=True)
class HistoryQuery:
    channel: str
    start_ns: int
    end_ns: int
    limit: int
    step_s: float | None = None


class HistoryReader:
    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self._history: History | None = None
        self._lock = threading.Lock()

    async def query(self, q: HistoryQuery) -> dict[str, Any]:
        return await asyncio.to_thread(self._query, q)

    def _query(self, q: HistoryQuery) -> dict[str, Any]:
        with self._lock:
            if self._history is None:
                # imported with the first query, like the connection it opens
                from monitor.storage.history import History

                self._history = History(self.data_dir)
            result = self._history.query(q.channel, from_ns=q.start_ns, to_ns=q.end_ns,
                                         every_s=q.step_s, limit=q.limit + 1)
        return _view(q, result)

    def close(self) -> None:
        with self._lock:
            if self._history is not None:
                self._history.close()
                self._history = None


def _view(q: HistoryQuery, result: QueryResult) -> dict[str, Any]:
    points: list[dict[str, Any]]
    if q.step_s is None:
        truncated = len(result.samples) > q.limit
        points = [{
            "ts": iso_utc(s.ts_ns), "ts_ns": s.ts_ns, "value": number(s.value),
            "quality": s.quality, "ts_source": "device" if s.device_ts_ns is not None else
            "daemon", "location_state": s.state, "detail": s.detail,
        } for s in result.samples[: q.limit]]
    else:
        truncated = len(result.buckets) > q.limit
        points = [{
            "ts": iso_utc(b.start_ns), "ts_ns": b.start_ns, "mean": number(b.mean),
            "min": number(b.min), "max": number(b.max), "good": b.good, "count": b.count,
        } for b in result.buckets[: q.limit]]
    return {
        "channel": q.channel,
        "start": iso_utc(q.start_ns),
        "end": iso_utc(q.end_ns),
        "step_s": q.step_s,
        "truncated": truncated,
        "points": points,
        "gaps": [{"scope": g.scope, "subject": g.subject, "cause": g.cause,
                  "start": iso_utc(g.start_ns),
                  "end": iso_utc(g.end_ns) if g.end_ns is not None else None,
                  "detail": g.detail} for g in result.gaps],
    }
