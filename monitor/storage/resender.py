"""The forwarder's side of ``outbox resend``: carry out queued requests between live sends.

A request (``monitor.storage.resend``) is worked off one batch per forwarder
round, so live readings keep going out while a large skipped range is re-sent.
A batch the server rejects is split until the bad point is alone, as in the
live path; that point stays quarantined (its first quarantine record is kept)
and the request counts it. When the server cannot take the batch now, the
request stays pending and is tried again after a capped, jittered backoff,
without blocking the live stream.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path

from monitor.config.storage import SinkCommon
from monitor.model import utc_now_ns
from monitor.storage.lineproto import OutboxRow
from monitor.storage.outbox import Outbox
from monitor.storage.resend import ResendQueue
from monitor.storage.resend_model import Item, Kind, Request
from monitor.storage.transport import Rejected, Transport, Unavailable

log = logging.getLogger(__name__)

#: How often the forwarder looks for new requests (a cheap indexed query).
POLL_INTERVAL_S = 1.0


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
    ) -> None:
        self.queue = ResendQueue(path)
        self.sink = transport.name
        self.outbox = outbox
        self.transport = transport
        self.settings = settings
        self._rng = rng
        self._clock = clock
        self._next_check = 0.0
        self._attempt = 0
        self.resent = 0  # readings delivered by resend requests (counter)
        self._quarantine_change = 0  # points newly quarantined minus quarantined ones delivered

    async def step(self) -> bool:
        """Send one batch of the oldest pending request; True if something was sent."""
        now = time.monotonic()
        if now < self._next_check:
            return False
        request = await asyncio.to_thread(self.queue.next_request, self.sink)
        if request is None:
            self._next_check = now + POLL_INTERVAL_S
            return False
        items = await asyncio.to_thread(
            self.queue.next_items, request, self.settings.backfill_batch_size)
        if not items:
            await asyncio.to_thread(self.queue.finish, request, self._clock())
            log.warning("sink %s: resend request %d done: %d sent, %d still rejected",
                        self.sink, request.id, request.sent, request.rejected)
            return True
        try:
            runs, rejected, error = await self._deliver(request, items)
        except Unavailable as err:
            await asyncio.to_thread(self.queue.failed, request, str(err))
            cap = min(self.settings.retry_max, self.settings.retry_initial * 2**self._attempt)
            delay = err.retry_after if err.retry_after is not None else \
                self._rng.uniform(cap / 2, cap)
            self._attempt += 1
            self._next_check = time.monotonic() + delay
            return False
        self._attempt = 0
        await asyncio.to_thread(self.queue.record, request, runs, progress=items[-1].id,
                                rejected=rejected, error=error, now_ns=self._clock())
        delivered = sum(len(r) for r in runs)
        self.resent += delivered
        if request.selection.kind is Kind.QUARANTINED:
            self._quarantine_change -= delivered
        else:  # a skipped reading the server refuses is quarantined now
            self._quarantine_change += rejected
        return True

    def pending_quarantined(self) -> int:
        """Quarantined points of this sink not re-sent since: the forwarder's gauge at start."""
        return len(self.queue.quarantined(self.sink))

    def take_quarantine_change(self) -> int:
        change, self._quarantine_change = self._quarantine_change, 0
        return change

    async def _deliver(
        self, request: Request, items: list[Item]
    ) -> tuple[list[list[Item]], int, str | None]:
        """Send ``items``; the delivered runs (id order), points rejected, last rejection."""
        rejected: list[int] = []
        error: str | None = None
        stack = [(0, len(items))]
        while stack:
            lo, hi = stack.pop()
            body = "\n".join(i.line for i in items[lo:hi]).encode()
            try:
                await self.transport.send(body)
            except Rejected as err:
                if hi - lo > 1:
                    mid = (lo + hi) // 2
                    stack += [(mid, hi), (lo, mid)]
                    continue
                rejected.append(lo)
                error = str(err)
                await asyncio.to_thread(self._quarantine, items[lo], err)
                log.error("sink %s: resend request %d: point still rejected: %s",
                          self.sink, request.id, err, extra={"reading_id": items[lo].id})
                continue
        runs: list[list[Item]] = [[]]
        bad = set(rejected)
        # With an id list, ids between two chosen ones were not chosen: never cover them.
        contiguous_only = request.selection.ids is not None
        for index, item in enumerate(items):
            if index in bad:
                runs.append([])
                continue
            if contiguous_only and runs[-1] and runs[-1][-1].id + 1 != item.id:
                runs.append([])
            runs[-1].append(item)
        return [r for r in runs if r], len(rejected), error

    def _quarantine(self, item: Item, err: Rejected) -> None:
        row = OutboxRow(item.id, 0, item.ts_ns, None, None, "", None, None, None)
        self.outbox.quarantine(row, item.line, err.status, str(err), self._clock())

    def close(self) -> None:
        self.queue.close()
