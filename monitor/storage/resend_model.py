"""What ``outbox resend`` works with: its tables, requests, selections and listed records.

The tables live in ``readings.db`` next to the outbox (docs/operations.md,
"Outbox"). ``outbox_resend_requests`` is a job queue: its ``status`` and
counters are the only columns ever updated. Every other table here is
append-only: ``outbox_resent`` (each delivered run of reading ids),
``outbox_resend_cancels`` (who cancelled a request, when, why) and
``outbox_resend_audited`` (which request outcomes are in the audit trail).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from monitor.integrity import append_only_triggers

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
CREATE TABLE IF NOT EXISTS outbox_resend_cancels (
    request_id INTEGER PRIMARY KEY,
    cancelled_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    at_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_resend_audited (
    request_id INTEGER PRIMARY KEY,
    status TEXT NOT NULL,
    audit_seq INTEGER NOT NULL,
    at_ns INTEGER NOT NULL
);
""" + "".join(append_only_triggers(t) for t in (
    "outbox_resent", "outbox_resend_cancels", "outbox_resend_audited"))

MIN_NS = -(2**63)
MAX_NS = 2**63 - 1


class Kind(StrEnum):
    QUARANTINED = "quarantined"
    SKIPPED = "skipped"


class Status(StrEnum):
    PENDING = "pending"  # queued, or being sent
    DONE = "done"  # every selected reading was delivered
    FAILED = "failed"  # worked to its end, but the server still refused some points
    CANCELLED = "cancelled"  # `outbox cancel`: the daemon stops it within the batch in flight

    @property
    def final(self) -> bool:
        return self is not Status.PENDING


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
    finished_ns: int | None  # set by the daemon when done or failed, by `outbox cancel`
    cancelled_by: str | None = None
    cancel_reason: str | None = None
    outcome_audited: bool = False  # the daemon has appended the outcome to the audit trail

    def public(self) -> dict[str, Any]:
        s = self.selection
        return {
            "id": self.id, "sink": self.sink, "kind": s.kind.value,
            "ids": list(s.ids) if s.ids is not None else None, "from_ns": s.from_ns,
            "to_ns": s.to_ns, "requested_by": self.requested_by, "reason": self.reason,
            "requested_ns": self.requested_ns, "selected": self.selected,
            "status": self.status.value, "sent": self.sent, "rejected": self.rejected,
            "attempts": self.attempts, "last_error": self.last_error,
            "finished_ns": self.finished_ns, "cancelled_by": self.cancelled_by,
            "cancel_reason": self.cancel_reason, "outcome_audited": self.outcome_audited,
        }

    def counts(self) -> dict[str, Any]:
        """What the audit trail keeps of a request's outcome."""
        return {k: v for k, v in self.public().items() if k in (
            "id", "kind", "ids", "from_ns", "to_ns", "status", "selected", "sent", "rejected",
            "attempts", "last_error", "requested_by", "finished_ns")}


#: Requests with their cancellation and whether their outcome is audited; filter on ``r.``.
SELECT_REQUESTS = (
    "SELECT r.id, r.sink, r.kind, r.ids, r.from_ns, r.to_ns, r.requested_by, r.reason, "
    "r.requested_ns, r.selected, r.status, r.progress, r.sent, r.rejected, r.attempts, "
    "r.last_error, r.finished_ns, c.cancelled_by, c.reason, a.request_id IS NOT NULL "
    "FROM outbox_resend_requests r "
    "LEFT JOIN outbox_resend_cancels c ON c.request_id = r.id "
    "LEFT JOIN outbox_resend_audited a ON a.request_id = r.id"
)


def request_from_row(row: tuple[Any, ...]) -> Request:
    """A ``Request`` from a row of ``SELECT_REQUESTS``."""
    ids = None if row[3] is None else tuple(int(i) for i in json.loads(row[3]))
    selection = Selection(Kind(row[2]), ids, row[4], row[5])
    return Request(int(row[0]), row[1], selection, row[6], row[7], int(row[8]), int(row[9]),
                   Status(row[10]), int(row[11]), int(row[12]), int(row[13]), int(row[14]),
                   row[15], row[16], row[17], row[18], bool(row[19]))


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
