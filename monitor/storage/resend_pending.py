"""What a sink still lacks: its quarantined points and skipped readings not re-sent since.

A reading is *pending* for a sink while it is quarantined or skipped and no
``outbox_resent`` row covers it (same sink and kind, its id in the run, its
time in the run's window). Only pending readings are ever selected for a
resend, which is what keeps a resend from sending anything the sink already
acknowledged.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from monitor.errors import StoreError
from monitor.storage.lineproto import TAG_NAMES, OutboxRow, encode, series_prefix
from monitor.storage.outbox import open_reader
from monitor.storage.resend_model import (
    TABLES,
    Item,
    Kind,
    QuarantinedPoint,
    Selection,
    SkipRecord,
    line_time_ns,
)

_READING_COLUMNS = "r.id, r.series, r.ts_ns, r.value, r.raw, r.quality, r.state, " \
    "r.device_ts_ns, r.detail"
_NOT_RESENT = (
    "NOT EXISTS (SELECT 1 FROM outbox_resent x WHERE x.sink = ? AND x.kind = ? "
    "AND {id} BETWEEN x.first_id AND x.last_id AND {ts} >= x.from_ns AND {ts} < x.to_ns)"
)


class PendingReadings:
    """The resend tables of ``readings.db`` read for one purpose: what is pending.

    Synchronous, one connection behind a lock (the forwarder calls it from worker
    threads); ``ResendQueue`` adds the requests on the same connection.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn = open_reader(path)
        self._prefix: dict[int, str] = {}
        try:
            with self._lock:
                self._conn.executescript(TABLES)
        except sqlite3.Error as err:
            self._conn.close()
            raise StoreError(f"{path}: cannot prepare the resend tables: {err}") from err

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: outbox query failed: {err}") from err

    def quarantined(self, sink: str | None = None, *, include_resent: bool = False,
                    selection: Selection | None = None) -> list[QuarantinedPoint]:
        """Quarantined points, oldest reading first; re-sent ones only if asked for."""
        rows = self._query(
            "SELECT q.sink, q.reading_id, q.status, q.message, q.at_ns, q.line, "
            "NOT EXISTS (SELECT 1 FROM outbox_resent x WHERE x.sink = q.sink AND x.kind = ? "
            "AND q.reading_id BETWEEN x.first_id AND x.last_id) "
            "FROM quarantine q WHERE (? IS NULL OR q.sink = ?) ORDER BY q.sink, q.reading_id",
            (Kind.QUARANTINED.value, sink, sink))
        out = []
        ids = None if selection is None or selection.ids is None else set(selection.ids)
        for s, rid, status, message, at_ns, line, pending in rows:
            ts = line_time_ns(line)
            if not pending and not include_resent:
                continue
            if selection is not None and not (selection.lo <= ts < selection.hi):
                continue
            if ids is not None and rid not in ids:
                continue
            out.append(QuarantinedPoint(s, int(rid), ts, int(status), message, int(at_ns), line,
                                        not pending))
        return out

    def skips(self, sink: str | None = None) -> list[SkipRecord]:
        """The recorded skips, with how many of their readings are still to re-send."""
        rows = self._query(
            "SELECT sink, first_id, last_id, count, from_ns, to_ns, reason, at_ns FROM sink_skips "
            "WHERE (? IS NULL OR sink = ?) ORDER BY sink, first_id", (sink, sink))
        out = []
        for row in rows:
            pending = self._count_skipped(row[0], int(row[1]), int(row[2]), Selection(Kind.SKIPPED))
            out.append(SkipRecord(row[0], int(row[1]), int(row[2]), int(row[3]), row[4], row[5],
                                  row[6], int(row[7]), pending))
        return out

    def _count_skipped(self, sink: str, first: int, last: int, sel: Selection) -> int:
        sql, params = self._skipped_sql(sink, sel, "count(*)", after=first - 1)
        rows = self._query(sql + " AND r.id <= ?", (*params, last))
        return int(rows[0][0])

    def count_pending(self, sink: str, selection: Selection) -> int:
        """How many readings ``selection`` picks for ``sink`` right now."""
        if selection.kind is Kind.QUARANTINED:
            return len(self.quarantined(sink, selection=selection))
        sql, params = self._skipped_sql(sink, selection, "count(*)", after=0)
        return int(self._query(sql, params)[0][0])

    @staticmethod
    def _skipped_sql(sink: str, sel: Selection, columns: str, *,
                     after: int) -> tuple[str, tuple[Any, ...]]:
        sql = (
            f"SELECT {columns} FROM sink_skips s JOIN readings r "
            "ON r.id BETWEEN s.first_id AND s.last_id "
            "WHERE s.sink = ? AND r.id > ? AND r.ts_ns >= ? AND r.ts_ns < ? AND "
            + _NOT_RESENT.format(id="r.id", ts="r.ts_ns")
            + " AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.sink = s.sink "
            "AND q.reading_id = r.id)"
        )
        params: tuple[Any, ...] = (sink, after, sel.lo, sel.hi, sink, Kind.SKIPPED.value)
        if sel.ids is not None:
            sql += " AND r.id IN (SELECT value FROM json_each(?))"
            params += (json.dumps(list(sel.ids)),)
        return sql, params

    def items(self, sink: str, selection: Selection, *, after: int, limit: int) -> list[Item]:
        """The first ``limit`` pending readings of ``selection`` with an id above ``after``."""
        if selection.kind is Kind.QUARANTINED:
            points = self.quarantined(sink, selection=selection)
            return [Item(p.reading_id, p.ts_ns, p.line) for p in points
                    if p.reading_id > after][:limit]
        sql, params = self._skipped_sql(sink, selection, _READING_COLUMNS, after=after)
        with self._lock:
            try:
                rows = [OutboxRow(*r) for r in self._conn.execute(
                    sql + " ORDER BY r.id LIMIT ?", (*params, limit))]
                missing = {r.series for r in rows} - self._prefix.keys()
                if missing:
                    marks = ",".join("?" * len(missing))
                    for srow in self._conn.execute(
                            f"SELECT id, {', '.join(TAG_NAMES)} FROM series "
                            f"WHERE id IN ({marks})", tuple(missing)):
                        self._prefix[srow[0]] = series_prefix(
                            zip(TAG_NAMES, srow[1:], strict=True))
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: outbox read failed: {err}") from err
        return [Item(r.id, r.ts_ns, encode(self._prefix[r.series], r)) for r in rows]
