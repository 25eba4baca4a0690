"""How a resend request's end reaches the audit trail: once, also across a crash.

The daemon appends the entry and then notes it in ``outbox_resend_audited``;
a crash between the two must not append it twice, and the tables that hold
what was delivered, cancelled and audited refuse to be rewritten.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.audit import SYSTEM_USER, AuditTrail
from monitor.errors import StoreError
from monitor.storage.embedded import EmbeddedStore
from monitor.storage.resend import ResendQueue
from monitor.storage.resend_audit import ACTIONS, OutcomeAudit
from monitor.storage.resend_model import Kind, Selection, Status


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[ResendQueue]:
    store = EmbeddedStore(tmp_path / "readings.db", {})
    await store.close()
    with ResendQueue(tmp_path / "readings.db") as queue:
        yield queue


def _entries(data_dir: Path) -> list[tuple[str, str, int, str]]:
    with AuditTrail(data_dir) as trail:
        assert trail.verify() is None
        return [(e.action, e.user, e.new_value["id"], e.new_value["status"])
                for e in trail.entries() if e.action.startswith("outbox.")]


def test_each_end_is_audited_once_with_its_counts(queue: ResendQueue, tmp_path: Path) -> None:
    done = queue.request("vm", Selection(Kind.SKIPPED), user="eng1", reason="outage over",
                         now_ns=1)
    cancelled = queue.request("vm", Selection(Kind.QUARANTINED), user="eng1", reason="fixed",
                              now_ns=2)
    queue.request("other", Selection(Kind.SKIPPED), user="eng1", reason="not this sink",
                  now_ns=3)
    queue.finish(done, now_ns=10)
    queue.cancel(cancelled.id, user="eng1", reason="wrong sink", now_ns=11)
    with pytest.raises(StoreError, match="already cancelled"):
        queue.cancel(cancelled.id, user="eng1", reason="twice", now_ns=12)
    audit = OutcomeAudit(queue, tmp_path, "vm")
    assert [r.id for r in audit.record_ended()] == [done.id, cancelled.id]
    assert audit.record_ended() == []
    assert OutcomeAudit(queue, tmp_path, "vm").record_ended() == []  # a restart: noted
    assert _entries(tmp_path) == [("outbox.resend_completed", SYSTEM_USER, done.id, "done"),
                                  ("outbox.resend_cancelled", SYSTEM_USER, cancelled.id,
                                   "cancelled")]
    with AuditTrail(tmp_path) as trail:
        (entry,) = trail.entries(action="outbox.resend_cancelled")
    assert entry.reason == "wrong sink"
    assert entry.new_value["sent"] == 0
    ended = queue.get(cancelled.id)
    assert ended is not None
    assert (ended.status, ended.cancelled_by, ended.outcome_audited) == \
        (Status.CANCELLED, "eng1", True)


def test_a_crash_between_the_entry_and_its_note_does_not_audit_twice(
    queue: ResendQueue, tmp_path: Path
) -> None:
    request = queue.request("vm", Selection(Kind.SKIPPED), user="eng1", reason="outage over",
                            now_ns=1)
    queue.finish(request, now_ns=10)
    ended = queue.get(request.id)
    assert ended is not None
    with AuditTrail(tmp_path) as trail:  # the entry went in, then the daemon died
        appended = trail.record(SYSTEM_USER, ACTIONS[Status.DONE], "sink:vm",
                                new=ended.counts(), reason=ended.reason)
    assert OutcomeAudit(queue, tmp_path, "vm").record_ended() == [ended]
    assert _entries(tmp_path) == [("outbox.resend_completed", SYSTEM_USER, request.id, "done")]
    with sqlite3.connect(tmp_path / "readings.db") as conn:
        assert conn.execute("SELECT audit_seq FROM outbox_resend_audited").fetchall() == \
            [(appended.seq,)]


@pytest.mark.parametrize("table", ["outbox_resent", "outbox_resend_cancels",
                                   "outbox_resend_audited"])
def test_what_was_delivered_cancelled_and_audited_is_never_rewritten(
    queue: ResendQueue, tmp_path: Path, table: str
) -> None:
    request = queue.request("vm", Selection(Kind.SKIPPED), user="eng1", reason="r", now_ns=1)
    queue.cancel(request.id, user="eng1", reason="wrong", now_ns=2)
    OutcomeAudit(queue, tmp_path, "vm").record_ended()
    conn = sqlite3.connect(tmp_path / "readings.db", isolation_level=None)
    try:
        conn.execute("INSERT INTO outbox_resent (sink, kind, request_id, first_id, last_id, "
                     "from_ns, to_ns, count, at_ns) VALUES ('vm', 'skipped', 1, 1, 2, 0, 9, 2, 3)")
        for sql in (f"UPDATE {table} SET at_ns = 0", f"DELETE FROM {table}"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)
    finally:
        conn.close()
