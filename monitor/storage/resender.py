"""The forwarder's side of ``outbox resend``: carry out queued requests between live sends.

A request (``monitor.storage.resend``) is worked off one batch per forwarder
round, so live readings keep going out while a large skipped range is re-sent.
A batch the server rejects is split until the bad point is alone, as in the
live path; that point stays quarantined (its first quarantine record is kept)
and the request counts it. When the server cannot take the batch now, the
request stays pending and is tried again after a capped, jittered backoff,
without blocking the live stream.

Progress is durable per HTTP request: each one the server acknowledges is
recorded (runs delivered, progress, counts) before the next is sent, so a
request interrupted anywhere, by an outage in the middle of a split batch or
by a stop, resumes after its delivered part. On a clean stop (the forwarder
task cancelled) the HTTP request in flight is let finish and recorded before
the cancellation goes on: nothing is sent twice. (``Runtime.stop`` waits
1.5 s for the store's task; a request still unanswered then counts as a
kill.) After SIGKILL or a power cut the one HTTP request whose 2xx was not
yet recorded is sent again on restart (at most ``backfill_batch_size``
readings: InfluxDB overwrites them, VictoriaMetrics without deduplication
keeps them twice).

Before each HTTP request the request's status is read again, so an
``outbox cancel`` takes effect within the batch in flight. Ended requests
(done, failed, cancelled) are appended to the audit trail with their counts
(``monitor.storage.resend_audit``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from monitor.config.storage import SinkCommon
from monitor.errors import StoreError
from monitor.model import utc_now_ns
from monitor.storage.lineproto import OutboxRow
from monitor.storage.outbox import Outbox
from monitor.storage.resend import ResendQueue
from monitor.storage.resend_audit import OutcomeAudit
from monitor.storage.resend_model import Item, Kind, Request, Status
from monitor.storage.transport import Rejected, Transport, Unavailable

log = logging.getLogger(__name__)

#: How often the forwarder looks for new requests (a cheap indexed query).
POLL_INTERVAL_S = 1.0

T = TypeVar("T")


class Resender:
    def __init__(
        self,
        path: Path,
        outbox: Outbox,
        transport: Transport,
        settings: SinkCommon,
        *,
        rng: random.Random,
        clock: Callable[[], int] = utc_now_ns,
        audit_dir: Path | None = None,
    ) -> None:
        self.queue = ResendQueue(path)
        self.sink = transport.name
        self.outbox = outbox
        self.transport = transport
        self.settings = settings
        # the audit trail lives in the data directory, next to readings.db
        self.outcomes = OutcomeAudit(self.queue, audit_dir or path.parent, self.sink)
        self._rng = rng
        self._clock = clock
        self._next_check = 0.0
        self._next_audit = 0.0
        self._attempt = 0
        self._audit_error: str | None = None
        self.resent = 0  # readings delivered by resend requests (counter)
        self._quarantine_change = 0  # points newly quarantined minus quarantined ones delivered

    async def step(self) -> bool:
        """Send one batch of the oldest pending request; True if something was sent."""
        now = time.monotonic()
        if now < self._next_check:
            return False
        if now >= self._next_audit:  # requests cancelled or ended elsewhere: once a poll
            self._next_audit = now + POLL_INTERVAL_S
            await self._audit_ended()
        request = await asyncio.to_thread(self.queue.next_request, self.sink)
        if request is None:
            self._next_check = now + POLL_INTERVAL_S
            return False
        items = await asyncio.to_thread(
            self.queue.next_items, request, self.settings.backfill_batch_size)
        if not items:
            await asyncio.to_thread(self.queue.finish, request, self._clock())
            log.warning("sink %s: resend request %d ended: %d sent, %d still rejected",
                        self.sink, request.id, request.sent, request.rejected)
            await self._audit_ended()
            return True
        try:
            carried_on = await self._send_batch(request, items)
        except Unavailable as err:
            await asyncio.to_thread(self.queue.failed, request, str(err))
            cap = min(self.settings.retry_max, self.settings.retry_initial * 2**self._attempt)
            delay = err.retry_after if err.retry_after is not None else \
                self._rng.uniform(cap / 2, cap)
            self._attempt += 1
            self._next_check = time.monotonic() + delay
            return False
        self._attempt = 0
        if not carried_on:
            log.warning("sink %s: resend request %d cancelled", self.sink, request.id)
            await self._audit_ended()
        return True

    def pending_quarantined(self) -> int:
        """Quarantined points of this sink not re-sent since: the forwarder's gauge at start."""
        return len(self.queue.quarantined(self.sink))

    def take_quarantine_change(self) -> int:
        change, self._quarantine_change = self._quarantine_change, 0
        return change

    async def _audit_ended(self) -> None:
        """Audit requests that ended; a trail that cannot be written is logged once, retried."""
        try:
            await asyncio.to_thread(self.outcomes.record_ended)
        except StoreError as err:
            if self._audit_error is None:
                log.error("sink %s: resend outcome not audited yet, retrying: %s", self.sink, err)
            self._audit_error = str(err)
            return
        if self._audit_error is not None:
            log.warning("sink %s: resend outcomes audited again", self.sink)
            self._audit_error = None

    async def _send_batch(self, request: Request, items: list[Item]) -> bool:
        """Send ``items``, split around rejected points; False if the request was cancelled.

        Raises ``Unavailable`` when the server cannot take them now; what it
        acknowledged before that is recorded already.
        """
        stack = [(0, len(items))]  # halves are pushed high first: sent in id order
        while stack:
            lo, hi = stack.pop()
            status = await asyncio.to_thread(self.queue.status, request.id)
            if status is not Status.PENDING:
                return False
            if not await _finish_on_stop(self._send_part(request, items[lo:hi])):
                mid = (lo + hi) // 2
                stack += [(mid, hi), (lo, mid)]
        return True

    async def _send_part(self, request: Request, part: list[Item]) -> bool:
        """One HTTP request and its durable record; False if it must be split."""
        body = "\n".join(i.line for i in part).encode()
        try:
            await self.transport.send(body)
        except Rejected as err:
            if len(part) > 1:
                return False
            (item,) = part
            await asyncio.to_thread(self._quarantine, item, err)
            log.error("sink %s: resend request %d: point still rejected: %s",
                      self.sink, request.id, err, extra={"reading_id": item.id})
            await asyncio.to_thread(self.queue.record, request, [], progress=item.id,
                                    rejected=1, error=str(err), now_ns=self._clock())
            if request.selection.kind is Kind.SKIPPED:  # a skipped reading refused: quarantined
                self._quarantine_change += 1
            return True
        runs = _runs(part, contiguous_only=request.selection.ids is not None)
        await asyncio.to_thread(self.queue.record, request, runs, progress=part[-1].id,
                                rejected=0, error=None, now_ns=self._clock())
        self.resent += len(part)
        if request.selection.kind is Kind.QUARANTINED:
            self._quarantine_change -= len(part)
        return True

    def _quarantine(self, item: Item, err: Rejected) -> None:
        row = OutboxRow(item.id, 0, item.ts_ns, None, None, "", None, None, None)
        self.outbox.quarantine(row, item.line, err.status, str(err), self._clock())

    def close(self) -> None:
        self.queue.close()


def _runs(part: list[Item], *, contiguous_only: bool) -> list[list[Item]]:
    """``part`` as runs of ids to record as delivered.

    With an id list, ids between two chosen ones were not chosen: a run never covers them.
    """
    if not contiguous_only:
        return [part]
    runs: list[list[Item]] = [[]]
    for item in part:
        if runs[-1] and runs[-1][-1].id + 1 != item.id:
            runs.append([])
        runs[-1].append(item)
    return runs


async def _finish_on_stop(work: Awaitable[T]) -> T:
    """Await ``work``; if cancelled meanwhile, let it finish first, then stay cancelled.

    An HTTP request in flight may have reached the server: cancelling it would
    leave delivered readings unrecorded, sent again after the restart. A
    second cancellation stops waiting.
    """
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # retrieved: its error, if any, is not what stops us
        raise
