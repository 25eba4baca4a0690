"""Send the outbox to one InfluxDB sink: batching, retry, quarantine, bound, backfill.

Policy, in the order it is applied (see docs/storage.md):

* Live: readings go out when ``batch_size`` are waiting or ``flush_interval``
  has passed since the first of them was committed.
* A failed send is retried, same batch, with capped exponential backoff and
  full jitter (``retry_initial`` doubling up to ``retry_max``, or the
  server's ``Retry-After``); nothing after it in the same stream is sent
  first, so order is preserved.
* A batch the server rejects as data (400/413/422) is split in halves until
  the bad point is alone; that point is quarantined with the server's message
  (table ``quarantine``) and the queue moves on.
* Catch-up: when more than one backfill batch is waiting, the backlog is sent
  in ``backfill_batch_size`` requests back to back, the next one read and
  serialised while the current one is in flight, and every round first sends
  any waiting live readings, so the current values keep arriving in time.
* Bound: at ``warn_ratio * max_pending`` waiting readings the sink reports a
  health problem; above ``max_pending`` the oldest readings are skipped for
  this sink, recorded in ``sink_skips`` (id and time range, count) and logged.
  They stay in the local history, so the GMP record is complete; only this
  sink's copy has the recorded hole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable

from monitor.config.storage import SinkCommon
from monitor.model import utc_now_ns
from monitor.storage.embedded import EmbeddedStore
from monitor.storage.outbox import Batch, CursorState, Outbox
from monitor.storage.resender import Resender
from monitor.storage.transport import Rejected, Transport, Unavailable

log = logging.getLogger(__name__)


class Forwarder:
    """One sink's sender. Gauges and counters are plain attributes, read at scrape time."""

    def __init__(
        self,
        store: EmbeddedStore,
        transport: Transport,
        settings: SinkCommon,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], int] = utc_now_ns,
    ) -> None:
        self.name = transport.name
        self.store = store
        self.transport = transport
        self.settings = settings
        self.max_pending = settings.max_pending
        self._rng = rng or random.Random()
        self._clock = clock
        self.outbox = Outbox(store.path, self.name, start_at=store.last_committed_id)
        # Requests of `cleanroom-monitor outbox resend`, queued in readings.db.
        self.resender = Resender(store.path, self.outbox, transport, settings, rng=self._rng,
                                 clock=clock)
        self._wake = asyncio.Event()
        store.add_waker(self._wake)
        self._prefetch: tuple[tuple[int, int, int], asyncio.Task[Batch]] | None = None
        self._live_due: float | None = None  # monotonic time the waiting live readings are due
        # --- counters and gauges ---
        self.sent = 0  # readings acknowledged by the server
        self.batches = 0
        self.send_errors = 0  # failed requests (each retry counts)
        self.errors_by_kind: dict[str, int] = {}
        self.quarantined = self.resender.pending_quarantined()  # not re-sent since (gauge)
        self.skipped = 0  # readings skipped at the outbox bound
        self.catch_ups = 0  # times the sink switched to catch-up (backlog + live) mode
        self.available = True
        self.last_error: str | None = None
        self.failing_since_ns: int | None = None
        self.last_success_ns: int | None = None

    # ------------------------------------------------------------------ gauges
    @property
    def cursor(self) -> int:
        return self.outbox.state.cursor

    @property
    def outbox_depth(self) -> int:
        """Readings committed locally and not yet done for this sink."""
        return self.outbox.state.pending(self.store.last_committed_id)

    @property
    def backfilling(self) -> bool:
        """True while a backlog is being sent behind the live readings."""
        return self.outbox.state.split

    def is_done(self, reading_id: int) -> bool:
        """True once ``reading_id`` is acknowledged, quarantined or skipped for this sink."""
        return self.outbox.state.is_done(reading_id)

    @property
    def fill_ratio(self) -> float:
        return self.outbox_depth / self.max_pending

    def oldest_pending_ns(self) -> int | None:
        if self.outbox_depth == 0:
            return None
        return self.outbox.oldest_pending_ns(self.store.last_committed_id)

    def health(self) -> list[str]:
        """Problems an operator must see, worded for the health page and alarms."""
        problems = []
        if not self.available and self.last_error:
            problems.append(f"sink {self.name}: cannot write ({self.last_error})")
        if self.fill_ratio >= self.settings.warn_ratio:
            problems.append(
                f"sink {self.name}: outbox holds {self.outbox_depth} readings, "
                f"{self.fill_ratio:.0%} of its bound {self.max_pending}"
            )
        if self.skipped:
            problems.append(f"sink {self.name}: {self.skipped} readings skipped at the bound")
        if self.quarantined:
            problems.append(f"sink {self.name}: {self.quarantined} points quarantined")
        return problems

    # ------------------------------------------------------------------ loop
    async def run(self) -> None:
        """Send until cancelled; an unexpected error is logged and the loop restarts."""
        try:
            while True:
                try:
                    await self.step()
                except asyncio.CancelledError:
                    raise
                except Exception:  # supervisor of this sink: log, back off, carry on
                    log.exception("sink %s: unexpected error; retrying", self.name)
                    await asyncio.sleep(self.settings.retry_max)
        finally:
            self._drop_prefetch()
            self.resender.close()
            await self.transport.close()

    async def step(self) -> None:
        """One round: enforce the bound, send what is due, or wait for more."""
        self._wake.clear()  # before reading the last id: a commit after this wakes the wait
        await self._enforce_bound()
        s = self.outbox.state
        last = self.store.last_committed_id
        if self.available and last - s.head > self.settings.backfill_batch_size:
            # Everything up to now is backlog; readings from now on are live.
            await self._save(s.mark(last, last), 0)
            self.catch_ups += 1
            log.info("sink %s: catching up %d readings", self.name, last - s.head)
        sent = await self._send_live(last)
        sent = await self._send_backlog() or sent
        if self.available:
            sent = await self.resender.step() or sent
            self.quarantined += self.resender.take_quarantine_change()
        if not sent:
            await self._wait()

    async def _wait(self) -> None:
        timeout = self.settings.flush_interval
        if self._live_due is not None:
            timeout = max(0.0, self._live_due - time.monotonic())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _send_live(self, last: int) -> bool:
        """Send the readings after the live head when a batch is full or due."""
        after = self.outbox.state.head
        waiting = last - after
        if waiting <= 0:
            self._live_due = None
            return False
        now = time.monotonic()
        if self._live_due is None:
            self._live_due = now + self.settings.flush_interval
        if waiting < self.settings.batch_size and now < self._live_due:
            return False
        batch = await asyncio.to_thread(self.outbox.fetch, after, last, self.settings.batch_size)
        if not batch.rows:
            self._live_due = None
            return False
        if await self._deliver(batch):
            await self._save(self.outbox.state.mark(after, batch.last_id), len(batch.rows))
        self._live_due = None if batch.last_id >= last else time.monotonic()
        return True

    async def _send_backlog(self) -> bool:
        """Send the next big batch of the oldest gap, if catching up."""
        s = self.outbox.state
        end = s.backlog_end
        if end is None:
            return False
        size = self.settings.backfill_batch_size
        batch = await self._fetch(s.cursor, end, size)
        if not batch.rows:  # nothing left in the gap (cannot happen: ids are never reused)
            await self._save(s.mark(s.cursor, end), 0)
            return True
        if batch.last_id < end:  # read the next one while this one is in flight
            self._start_prefetch(batch.last_id, end, size)
        if await self._deliver(batch):
            new = self.outbox.state.mark(s.cursor, batch.last_id)
            await self._save(new, len(batch.rows))
            if not new.split:
                log.info("sink %s: caught up", self.name)
        return True

    # ------------------------------------------------------------------ batches
    async def _fetch(self, after: int, upto: int, limit: int) -> Batch:
        """A backlog batch, from the prefetch when it is the one that was read ahead."""
        key = (after, upto, limit)
        if self._prefetch is not None:
            pkey, task = self._prefetch
            self._prefetch = None
            if pkey == key:
                return await task
            task.cancel()
        return await asyncio.to_thread(self.outbox.fetch, after, upto, limit)

    def _start_prefetch(self, after: int, upto: int, limit: int) -> None:
        self._drop_prefetch()
        task = asyncio.ensure_future(asyncio.to_thread(self.outbox.fetch, after, upto, limit))
        self._prefetch = ((after, upto, limit), task)

    def _drop_prefetch(self) -> None:
        if self._prefetch is not None:
            self._prefetch[1].cancel()
            self._prefetch = None

    async def _save(self, state: CursorState, count: int) -> None:
        await asyncio.to_thread(self.outbox.save, state, self._clock())
        self.sent += count

    async def _deliver(self, batch: Batch) -> bool:
        """Send ``batch``; False if the bound skipped past it while the server was down."""
        first_id = batch.rows[0].id
        stack = [(0, len(batch.rows))]
        while stack:
            lo, hi = stack.pop()
            body = "\n".join(batch.lines[lo:hi]).encode()
            try:
                if not await self._send_with_retry(body, first_id):
                    return False
            except Rejected as err:
                if hi - lo > 1:
                    mid = (lo + hi) // 2
                    stack += [(mid, hi), (lo, mid)]
                    continue
                await asyncio.to_thread(
                    self.outbox.quarantine, batch.rows[lo], batch.lines[lo], err.status,
                    str(err), self._clock(),
                )
                self.quarantined += 1
                log.error("sink %s: point quarantined: %s", self.name, err,
                          extra={"reading_id": batch.rows[lo].id})
        return True

    async def _send_with_retry(self, body: bytes, first_id: int) -> bool:
        attempt = 0
        while True:
            try:
                await self.transport.send(body)
            except Unavailable as err:
                self._failed(err)
                delay = err.retry_after
                if delay is None:
                    cap = min(self.settings.retry_max, self.settings.retry_initial * 2**attempt)
                    delay = self._rng.uniform(cap / 2, cap)
                attempt += 1
                await asyncio.sleep(delay)
                await self._enforce_bound()
                if self.outbox.state.is_done(first_id):
                    return False
                continue
            self._succeeded()
            return True

    def _failed(self, err: Unavailable) -> None:
        self.send_errors += 1
        kind = f"http_{err.status}" if err.status else "connection"
        self.errors_by_kind[kind] = self.errors_by_kind.get(kind, 0) + 1
        if self.available:
            log.error("sink %s: write failed, retrying with backoff: %s", self.name, err)
            self.failing_since_ns = self._clock()
        self.available = False
        self.last_error = str(err)

    def _succeeded(self) -> None:
        if not self.available:
            log.warning("sink %s: writes succeed again", self.name)
        self.available = True
        self.last_error = None
        self.failing_since_ns = None
        self.last_success_ns = self._clock()
        self.batches += 1

    # ------------------------------------------------------------------ bound
    async def _enforce_bound(self) -> None:
        excess = self.outbox_depth - self.max_pending
        if excess <= 0:
            return
        skipped = 0
        while excess > 0:
            s = self.outbox.state
            end = s.backlog_end
            n = excess if end is None else min(excess, end - s.cursor)
            skipped += await self._skip(s.cursor + 1, s.cursor + n, s.mark(s.cursor, s.cursor + n))
            excess -= n
        self._drop_prefetch()
        self.skipped += skipped
        log.error(
            "sink %s: outbox bound %d reached; skipped the %d oldest unsent readings for this "
            "sink (kept in the local history, recorded in sink_skips)",
            self.name, self.max_pending, skipped,
        )

    async def _skip(self, first: int, last: int, state: CursorState) -> int:
        reason = f"outbox bound {self.max_pending} reached"
        return await asyncio.to_thread(
            self.outbox.skip, first, last, reason, state, self._clock()
        )
