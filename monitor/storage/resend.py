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
from typing import Any

from monitor.errors import StoreError
from monitor.storage.resend_model import (
    REQUEST_COLUMNS,
    Item,
    Kind,
    Request,
    Selection,
    request_from_row,
)
from monitor.storage.resend_pending import PendingReadings


class ResendQueue(PendingReadings):
    """The requests of ``readings.db`` and their progress; synchronous, one connection."""

    def __enter__(self) -> ResendQueue:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

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
        rows = self._query(f"SELECT {REQUEST_COLUMNS} FROM outbox_resend_requests WHERE id = ?",
                           (request_id,))
        return request_from_row(rows[0]) if rows else None

    def requests(self, sink: str | None = None, *, pending_only: bool = False) -> list[Request]:
        rows = self._query(
            f"SELECT {REQUEST_COLUMNS} FROM outbox_resend_requests "
            "WHERE (? IS NULL OR sink = ?) AND (? = 0 OR status = 'pending') ORDER BY id",
            (sink, sink, int(pending_only)))
        return [request_from_row(r) for r in rows]

    def next_request(self, sink: str) -> Request | None:
        rows = self._query(
            f"SELECT {REQUEST_COLUMNS} FROM outbox_resend_requests "
            "WHERE sink = ? AND status = 'pending' ORDER BY id LIMIT 1", (sink,))
        return request_from_row(rows[0]) if rows else None

    # ------------------------------------------------------------------ the forwarder's side
    def next_items(self, request: Request, limit: int) -> list[Item]:
        """The next readings of ``request`` after its progress, oldest id first."""
        return self.items(request.sink, request.selection, after=request.progress, limit=limit)

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
