"""Re-sending what a sink did not get: the queue of ``outbox resend`` requests.

The daemon owns ``readings.db``; the ``outbox resend`` command must work while
it runs, and the daemon's forwarder is the only thing that writes to a sink
(it holds the credentials, the backoff and the sink's health). So the two
meet in the database, which WAL lets both use at once:

* the command appends a row to ``outbox_resend_requests`` (sink, what: the
  ``quarantined`` points or the ``skipped`` readings, optionally only some
  reading ids or a time window, who asked and why) and audits it;
* the sink's forwarder (``monitor.storage.resender``) polls that table, sends
  the selected readings in batches between its live sends, and records every
  delivered run of reading ids in ``outbox_resent``. A point the server still
  rejects stays quarantined; the request counts it and keeps the message;
* ``outbox cancel`` marks a pending request cancelled (and appends who and
  why to ``outbox_resend_cancels``); the forwarder checks before every HTTP
  request it sends for the request, so at most the one in flight completes;
* when a request ends (done, failed, cancelled) the daemon appends its
  outcome with the counts to the audit trail and notes that in
  ``outbox_resend_audited`` (``monitor.storage.resend_audit``).

Nothing is sent twice on purpose. A reading is *pending* for a sink while it
is quarantined or skipped and no ``outbox_resent`` row covers it; only
pending readings are selected. Every HTTP request the server acknowledges is
recorded at once, with the request's progress, in one transaction, before
the next one is sent, including the halves of a batch split to find a
rejected point: a request interrupted anywhere resumes after what was
delivered. A clean stop lets the HTTP request in flight finish and records
it before the forwarder ends, so nothing is sent twice (if it is answered
while the service waits for its storage tasks). After SIGKILL or a power
cut, the one HTTP request between the server's 2xx and that commit is sent
again on restart: InfluxDB overwrites it (same series and timestamp),
VictoriaMetrics without ``-dedup.minScrapeInterval`` keeps that one batch
(at most ``backfill_batch_size`` readings) twice.

Neither table is ever the only record of anything: the quarantine and skip
tables stay as they were, a request's ``status`` and counters are its only
updated columns (as a job queue's are), the other resend tables refuse
UPDATE and DELETE, and the audit trail holds the request, its cancellation
and its outcome.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from monitor.errors import StoreError
from monitor.storage.resend_model import (
    SELECT_REQUESTS,
    Item,
    Kind,
    Request,
    Selection,
    Status,
    request_from_row,
)
from monitor.storage.resend_pending import PendingReadings


class ResendQueue(PendingReadings):
    """The requests of ``readings.db`` and their progress; synchronous, one connection."""

    def __enter__(self) -> ResendQueue:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the command's side
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

    def cancel(self, request_id: int, *, user: str, reason: str, now_ns: int) -> Request:
        """Cancel a pending request; the request as cancelled.

        Only a pending request can be cancelled (one that ended keeps its
        outcome). What the forwarder delivered before it notices stays
        delivered and counted.
        """
        if not reason.strip():
            raise StoreError("a reason is required to cancel a resend")
        with self._lock:
            conn = self._conn
            try:
                with conn:
                    conn.execute("BEGIN IMMEDIATE")
                    rows = conn.execute(f"{SELECT_REQUESTS} WHERE r.id = ?",
                                        (request_id,)).fetchall()
                    if not rows:
                        raise StoreError(f"no resend request {request_id}")
                    before = request_from_row(rows[0])
                    if before.status.final:
                        raise StoreError(f"resend request {request_id} is already "
                                         f"{before.status.value}; only a pending one can be "
                                         "cancelled")
                    conn.execute("INSERT INTO outbox_resend_cancels (request_id, cancelled_by, "
                                 "reason, at_ns) VALUES (?,?,?,?)",
                                 (request_id, user, reason, now_ns))
                    conn.execute("UPDATE outbox_resend_requests SET status = ?, finished_ns = ? "
                                 "WHERE id = ?", (Status.CANCELLED.value, now_ns, request_id))
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: resend request not cancelled: {err}") from err
        after = self.get(request_id)
        assert after is not None
        return after

    # ------------------------------------------------------------------ reading requests
    def get(self, request_id: int) -> Request | None:
        rows = self._query(f"{SELECT_REQUESTS} WHERE r.id = ?", (request_id,))
        return request_from_row(rows[0]) if rows else None

    def requests(self, sink: str | None = None, *, pending_only: bool = False) -> list[Request]:
        rows = self._query(
            f"{SELECT_REQUESTS} WHERE (? IS NULL OR r.sink = ?) "
            "AND (? = 0 OR r.status = 'pending') ORDER BY r.id",
            (sink, sink, int(pending_only)))
        return [request_from_row(r) for r in rows]

    def next_request(self, sink: str) -> Request | None:
        rows = self._query(
            f"{SELECT_REQUESTS} WHERE r.sink = ? AND r.status = 'pending' ORDER BY r.id LIMIT 1",
            (sink,))
        return request_from_row(rows[0]) if rows else None

    def status(self, request_id: int) -> Status:
        """The request's status now: the forwarder asks before each HTTP request."""
        rows = self._query("SELECT status FROM outbox_resend_requests WHERE id = ?",
                           (request_id,))
        if not rows:
            raise StoreError(f"{self.path}: resend request {request_id} has gone")
        return Status(rows[0][0])

    def unaudited(self, sink: str) -> list[Request]:
        """Requests of ``sink`` that ended and whose outcome is not in the audit trail yet."""
        rows = self._query(
            f"{SELECT_REQUESTS} WHERE r.sink = ? AND r.status != 'pending' "
            "AND a.request_id IS NULL ORDER BY r.id", (sink,))
        return [request_from_row(r) for r in rows]

    # ------------------------------------------------------------------ the forwarder's side
    def next_items(self, request: Request, limit: int) -> list[Item]:
        """The next readings of ``request`` after its progress, oldest id first."""
        return self.items(request.sink, request.selection, after=request.progress, limit=limit)

    def record(self, request: Request, delivered: list[list[Item]], *, progress: int,
               rejected: int, error: str | None, now_ns: int) -> None:
        """One HTTP request's outcome, in one transaction: runs delivered, progress, counts.

        Recorded even if the request was cancelled meanwhile: what was sent was sent.
        """
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
                        "UPDATE outbox_resend_requests SET progress = max(progress, ?), "
                        "sent = sent + ?, rejected = rejected + ?, "
                        "last_error = coalesce(?, last_error) WHERE id = ?",
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
        """Nothing of ``request`` is left to send: done, or failed if points were refused."""
        self._write("UPDATE outbox_resend_requests SET finished_ns = ?, status = CASE "
                    "WHEN rejected > 0 THEN 'failed' ELSE 'done' END "
                    "WHERE id = ? AND status = 'pending'", (now_ns, request.id))

    def audited(self, request: Request, audit_seq: int, now_ns: int) -> None:
        """The outcome of ``request`` is audit entry ``audit_seq``: not to be audited again."""
        self._write("INSERT OR IGNORE INTO outbox_resend_audited (request_id, status, audit_seq, "
                    "at_ns) VALUES (?,?,?,?)",
                    (request.id, request.status.value, audit_seq, now_ns))

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        with self._lock:
            try:
                self._conn.execute(sql, params)
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: outbox request not updated: {err}") from err
