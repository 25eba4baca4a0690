"""Reading history from the embedded store's database, for the API and the trend charts.

Reads go through their own read-only connection in a worker thread (WAL lets
them run while the store commits), so a long history query never stalls
polling. Raw readings keep their quality; the aggregated form (``step_s``)
averages good readings only and counts the others, so a chart never draws a
communication error as a value.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.audit import iso_utc
from monitor.errors import StoreError
from monitor.storage.factory import readings_path
from monitor.storage.schema import reader

from .views import number


@dataclass(frozen=True)
class HistoryQuery:
    channel: str
    start_ns: int
    end_ns: int
    limit: int
    step_ns: int | None = None


class HistoryReader:
    def __init__(self, data_dir: str | Path) -> None:
        self.path = readings_path(data_dir)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = reader(self.path)
            self._conn.execute("PRAGMA query_only=ON")
        return self._conn

    async def query(self, q: HistoryQuery) -> dict[str, Any]:
        return await asyncio.to_thread(self._query, q)

    def _query(self, q: HistoryQuery) -> dict[str, Any]:
        with self._lock:
            try:
                conn = self._connection()
                series = [r[0] for r in conn.execute(
                    "SELECT id FROM series WHERE channel = ?", (q.channel,))]
                if not series:
                    return _result(q, [], truncated=False)
                marks = ",".join("?" * len(series))
                if q.step_ns is None:
                    rows = conn.execute(
                        "SELECT ts_ns, value, quality, device_ts_ns, state, detail FROM readings "
                        f"WHERE series IN ({marks}) AND ts_ns >= ? AND ts_ns < ? "
                        "ORDER BY ts_ns LIMIT ?",
                        (*series, q.start_ns, q.end_ns, q.limit + 1)).fetchall()
                    points = [_raw(r) for r in rows[: q.limit]]
                else:
                    rows = conn.execute(
                        "SELECT (ts_ns - ?) / ? AS bucket, "
                        "AVG(CASE WHEN quality = 'good' THEN value END), "
                        "MIN(CASE WHEN quality = 'good' THEN value END), "
                        "MAX(CASE WHEN quality = 'good' THEN value END), "
                        "SUM(quality = 'good'), COUNT(*) FROM readings "
                        f"WHERE series IN ({marks}) AND ts_ns >= ? AND ts_ns < ? "
                        "GROUP BY bucket ORDER BY bucket LIMIT ?",
                        (q.start_ns, q.step_ns, *series, q.start_ns, q.end_ns, q.limit + 1),
                    ).fetchall()
                    points = [_bucket(q, r) for r in rows[: q.limit]]
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: history query failed: {err}") from err
        return _result(q, points, truncated=len(rows) > q.limit)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _raw(row: tuple[Any, ...]) -> dict[str, Any]:
    ts_ns, value, quality, device_ts_ns, state, detail = row
    return {"ts": iso_utc(ts_ns), "ts_ns": ts_ns, "value": number(value), "quality": quality,
            "ts_source": "device" if device_ts_ns is not None else "daemon",
            "location_state": state, "detail": detail}


def _bucket(q: HistoryQuery, row: tuple[Any, ...]) -> dict[str, Any]:
    bucket, avg, low, high, good, count = row
    assert q.step_ns is not None
    start = q.start_ns + int(bucket) * q.step_ns
    return {"ts": iso_utc(start), "ts_ns": start, "mean": number(avg), "min": number(low),
            "max": number(high), "good": int(good or 0), "count": int(count)}


def _result(q: HistoryQuery, points: list[dict[str, Any]], *, truncated: bool) -> dict[str, Any]:
    return {"channel": q.channel, "start": iso_utc(q.start_ns), "end": iso_utc(q.end_ns),
            "step_s": q.step_ns / 1e9 if q.step_ns else None, "truncated": truncated,
            "points": points}
