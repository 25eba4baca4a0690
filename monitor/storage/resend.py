"""Re-sending what a sink did not get: quarantined points and readings skipped at the bound.

The daemon owns ``readings.db``; the ``outbox resend`` command must work while
it runs, and the daemon's forwarder is the only thing that writes to a sink
(it holds the credentials, the backoff and the sink's health). So the two
meet in the database, which WAL lets both use at once:

* the command appends a row to ``outbox_resend_requests`` (sink, what: the
  ``quarantined`` points or the ``skipped`` readings, optionally only some
  reading ids or a time window, who asked and why) and audits it;
* the sink's forwarder polls that table, sends the selected readings in
  batches between its live sends, and records every delivered run of reading
  ids in ``outbox_resent``. A point the server still rejects stays
  quarantined; the request counts it and keeps the server's message.

Nothing is sent twice on purpose. A reading is *pending* for a sink while it
is quarantined or skipped and no ``outbox_resent`` row covers it; only
pending readings are selected, and an acknowledged resend makes them covered.
The one window for a duplicate is a crash between the server's 2xx and the
``outbox_resent`` commit: that batch is sent again, which InfluxDB overwrites
(same series and timestamp). Readings a sink already acknowledged are never
selected, so a resend cannot duplicate them on a VictoriaMetrics without
deduplication either.

Neither table is ever the only record of anything: the quarantine and skip
tables stay as they were (``status`` of a request is its only updated
column set, as a job queue's is) and the audit trail holds the request.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from monitor.errors import StoreError
from monitor.storage.lineproto import TAG_NAMES, OutboxRow, encode, series_prefix
from monitor.storage.outbox import open_reader

TABLES = """
CREATE TABLE IF NOT EXISTS outbox_resend_requests (
    id INTEGER PRIMARY KEY,
    sink TEXT NOT NULL,
    kind TEXT NOT NULL,
    ids TEXT,
    from_ns INTEGER,
    to_ns INTEGER,
    requested_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    requested_ns INTEGER NOT NULL,
    selected INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending',
    progress INTEGER NOT NULL DEFAULT 0,
    sent INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    finished_ns INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_resend_requests_sink ON outbox_resend_requests (sink, status);
CREATE TABLE IF NOT EXISTS outbox_resent (
    id INTEGER PRIMARY KEY,
    sink TEXT NOT NULL,
    kind TEXT NOT NULL,
    request_id INTEGER NOT NULL,
    first_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL,
    from_ns INTEGER NOT NULL,
    to_ns INTEGER NOT NULL,
    count INTEGER NOT NULL,
    at_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_resent_sink ON outbox_resent (sink, kind, first_id);
"""

MIN_NS = -(2**63)
MAX_NS = 2**63 - 1

_READING_COLUMNS = "r.id, r.series, r.ts_ns, r.value, r.raw, r.quality, r.state, " \
    "r.device_ts_ns, r.detail"
_NOT_RESENT = (
    "NOT EXISTS (SELECT 1 FROM outbox_resent x WHERE x.sink = ? AND x.kind = ? "
    "AND {id} BETWEEN x.first_id AND x.last_id AND {ts} >= x.from_ns AND {ts} < x.to_ns)"
)


class Kind(StrEnum):
    QUARANTINED = "quarantined"
    SKIPPED = "skipped"


class Status(StrEnum):
    PENDING = "pending"
    DONE = "done"


@dataclass(frozen=True)
class Selection:
    """Which of a sink's undelivered readings: all, some reading ids, and/or a time window."""

    kind: Kind
    ids: tuple[int, ...] | None = None
    from_ns: int | None = None  # reading time, UTC ns, inclusive
    to_ns: int | None = None  # exclusive

    @property
    def lo(self) -> int:
        return MIN_NS if self.from_ns is None else self.from_ns

    @property
    def hi(self) -> int:
        return MAX_NS if self.to_ns is None else self.to_ns


@dataclass(frozen=True)
class Request:
    id: int
    sink: str
    selection: Selection
    requested_by: str
    reason: str
    requested_ns: int
    selected: int
    status: Status
    progress: int
    sent: int
    rejected: int
    attempts: int
    last_error: str | None
    finished_ns: int | None

    def public(self) -> dict[str, Any]:
        s = self.selection
        return {
            "id": self.id, "sink": self.sink, "kind": s.kind.value,
            "ids": list(s.ids) if s.ids is not None else None, "from_ns": s.from_ns,
            "to_ns": s.to_ns, "requested_by": self.requested_by, "reason": self.reason,
            "requested_ns": self.requested_ns, "selected": self.selected,
            "status": self.status.value, "sent": self.sent, "rejected": self.rejected,
            "attempts": self.attempts, "last_error": self.last_error,
            "finished_ns": self.finished_ns,
        }


@dataclass(frozen=True)
class Item:
    """One reading to re-send: its id, time and line protocol."""

    id: int
    ts_ns: int
    line: str


@dataclass(frozen=True)
class QuarantinedPoint:
    sink: str
    reading_id: int
    ts_ns: int
    status: int
    message: str
    at_ns: int
    line: str
    resent: bool


@dataclass(frozen=True)
class SkipRecord:
    sink: str
    first_id: int
    last_id: int
    count: int
    from_ns: int | None
    to_ns: int | None
    reason: str
    at_ns: int
    pending: int  # readings of the range still in the history and not yet re-sent


def line_time_ns(line: str) -> int:
    """The timestamp of one line of line protocol (its last token; we always write one)."""
    return int(line.rsplit(" ", 1)[1])


_REQUEST_COLUMNS = (
    "id, sink, kind, ids, from_ns, to_ns, requested_by, reason, requested_ns, selected, "
    "status, progress, sent, rejected, attempts, last_error, finished_ns"
)


def _request(row: tuple[Any, ...]) -> Request:
    ids = None if row[3] is None else tuple(int(i) for i in json.loads(row[3]))
    selection = Selection(Kind(row[2]), ids, row[4], row[5])
    return Request(int(row[0]), row[1], selection, row[6], row[7], int(row[8]), int(row[9]),
                   Status(row[10]), int(row[11]), int(row[12]), int(row[13]), int(row[14]),
                   row[15], row[16])


class ResendQueue:
    """The request and delivery tables of ``readings.db``; synchronous, one connection."""

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

    def __enter__(self) -> ResendQueue:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: outbox query failed: {err}") from err

    # ------------------------------------------------------------------ what is pending
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

    # ------------------------------------------------------------------ requests
    def request(self, sink: str, selection: Selection, *, user: str, reason: str,
                now_ns: int) -> Request:
        """Queue a resend for the daemon's forwarder of ``sink``."""
        if not reason.strip():
            raise StoreError("a reason is required to re-send readings")
        selected = self.count_pending(sink, selection)
        ids = None if selection.ids is None else json.dumps(list(selection.ids))
        with self._lock:
            try:
                with self._conn:  # committed here, whatever else the connection has open
                    self._conn.execute("BEGIN IMMEDIATE")
                    cur = self._conn.execute(
                        "INSERT INTO outbox_resend_requests (sink, kind, ids, from_ns, to_ns, "
                        "requested_by, reason, requested_ns, selected) "
                        "VALUES (?,?,?,?,?,?,?,?,?)",
                        (sink, selection.kind.value, ids, selection.from_ns, selection.to_ns,
                         user, reason, now_ns, selected))
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: resend request not recorded: {err}") from err
        request = self.get(int(cur.lastrowid or 0))
        assert request is not None
        return request

    def get(self, request_id: int) -> Request | None:
        rows = self._query(f"SELECT {_REQUEST_COLUMNS} FROM outbox_resend_requests WHERE id = ?",
                           (request_id,))
        return _request(rows[0]) if rows else None

    def requests(self, sink: str | None = None, *, pending_only: bool = False) -> list[Request]:
        rows = self._query(
            f"SELECT {_REQUEST_COLUMNS} FROM outbox_resend_requests "
            "WHERE (? IS NULL OR sink = ?) AND (? = 0 OR status = 'pending') ORDER BY id",
            (sink, sink, int(pending_only)))
        return [_request(r) for r in rows]

    def next_request(self, sink: str) -> Request | None:
        rows = self._query(
            f"SELECT {_REQUEST_COLUMNS} FROM outbox_resend_requests "
            "WHERE sink = ? AND status = 'pending' ORDER BY id LIMIT 1", (sink,))
        return _request(rows[0]) if rows else None

    # ------------------------------------------------------------------ the forwarder's side
    def next_items(self, request: Request, limit: int) -> list[Item]:
        """The next readings of ``request`` after its progress, oldest id first."""
        sel = request.selection
        if sel.kind is Kind.QUARANTINED:
            points = self.quarantined(request.sink, selection=sel)
            return [Item(p.reading_id, p.ts_ns, p.line) for p in points
                    if p.reading_id > request.progress][:limit]
        sql, params = self._skipped_sql(request.sink, sel, _READING_COLUMNS,
                                        after=request.progress)
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

    def record(self, request: Request, delivered: list[list[Item]], *, progress: int,
               rejected: int, error: str | None, now_ns: int) -> None:
        """One batch's outcome, in one transaction: runs delivered, progress, counts."""
        sel = request.selection
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if sel.kind is Kind.QUARANTINED:  # each point is its own record
                        delivered = [[item] for run in delivered for item in run]
                    for run in delivered:
                        if not run:
                            continue
                        conn.execute(
                            "INSERT INTO outbox_resent (sink, kind, request_id, first_id, "
                            "last_id, from_ns, to_ns, count, at_ns) VALUES (?,?,?,?,?,?,?,?,?)",
                            (request.sink, sel.kind.value, request.id, run[0].id, run[-1].id,
                             sel.lo, sel.hi, len(run), now_ns))
                    conn.execute(
                        "UPDATE outbox_resend_requests SET progress = ?, sent = sent + ?, "
                        "rejected = rejected + ?, last_error = coalesce(?, last_error) "
                        "WHERE id = ?",
                        (progress, sum(len(r) for r in delivered), rejected, error, request.id))
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: resend progress not recorded: {err}") from err

    def failed(self, request: Request, error: str) -> None:
        """The sink could not take the batch now; the request stays pending."""
        self._write("UPDATE outbox_resend_requests SET attempts = attempts + 1, last_error = ? "
                    "WHERE id = ?", (error, request.id))

    def finish(self, request: Request, now_ns: int) -> None:
        self._write("UPDATE outbox_resend_requests SET status = 'done', finished_ns = ? "
                    "WHERE id = ? AND status = 'pending'", (now_ns, request.id))

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        with self._lock:
            try:
                self._conn.execute(sql, params)
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: outbox request not updated: {err}") from err
