"""The audit trail's record of how each resend request ended: done, failed or cancelled.

``outbox requests`` shows a request's state, but that table is a job queue
whose status and counters change; the audit trail is the GMP record. So when
a request ends, the daemon appends one entry by ``system`` (object
``sink:<name>``, the request's counts as the new value, its reason, or the
cancellation's) and notes the entry's seq in ``outbox_resend_audited`` so
that it is appended once. A request cancelled while the daemon was stopped
is audited at its next start.

The entry goes in before the note. A crash between the two must not append
it twice, so the first pass of a process looks in the trail first.
"""

from __future__ import annotations

from pathlib import Path

from monitor.audit import SYSTEM_USER, AuditEntry, AuditTrail
from monitor.model import utc_now_ns
from monitor.storage.resend import ResendQueue
from monitor.storage.resend_model import Request, Status

#: The audited action of each way a request ends.
ACTIONS = {
    Status.DONE: "outbox.resend_completed",
    Status.FAILED: "outbox.resend_failed",
    Status.CANCELLED: "outbox.resend_cancelled",
}


class OutcomeAudit:
    """Appends the outcome of one sink's ended requests to ``<data_dir>/audit.db``."""

    def __init__(self, queue: ResendQueue, data_dir: Path, sink: str) -> None:
        self.queue = queue
        self.data_dir = data_dir
        self.sink = sink
        self._trail_checked = False  # this process appended and noted every entry itself

    def record_ended(self) -> list[Request]:
        """Audit every ended request not audited yet (blocking: call from a worker thread)."""
        ended = self.queue.unaudited(self.sink)
        if not ended:
            self._trail_checked = True
            return []
        try:
            with AuditTrail(self.data_dir) as trail:
                for request in ended:
                    entry = None if self._trail_checked else _find(trail, request)
                    if entry is None:
                        entry = trail.record(
                            SYSTEM_USER, ACTIONS[request.status], f"sink:{request.sink}",
                            new=request.counts(),
                            reason=request.cancel_reason if request.status is Status.CANCELLED
                            else request.reason)
                    self.queue.audited(request, entry.seq, utc_now_ns())
        except BaseException:
            self._trail_checked = False  # an entry may be in without its note
            raise
        self._trail_checked = True
        return ended


def _find(trail: AuditTrail, request: Request) -> AuditEntry | None:
    for entry in trail.entries(user=SYSTEM_USER, action=ACTIONS[request.status],
                               object_prefix=f"sink:{request.sink}"):
        value = entry.new_value
        if entry.object == f"sink:{request.sink}" and isinstance(value, dict) and \
                value.get("id") == request.id:
            return entry
    return None
