"""One sink's view of ``readings.db`` as an outbox: its cursor, batches, quarantine, skips.

A sink's progress is kept as ids into the ``readings`` table (ids grow with
``AUTOINCREMENT`` and are never reused):

* ``cursor``: every reading with ``id <= cursor`` is done (acknowledged by a
  2xx, quarantined or skipped at the bound);
* while catching up after an outage the outbox runs two streams: the backlog
  ``(cursor, live_from]`` is sent oldest first in big batches, and readings
  newer than ``live_from`` are sent as they come, ``(live_from, live_cursor]``
  being done. When the backlog is empty the streams merge again.

Only rows at or below the smallest ``cursor`` of all sinks may be removed by
retention, so nothing leaves the outbox before the server confirmed it.

Every method here is synchronous and runs on a worker thread; the object's
lock serialises its connection.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from monitor.errors import StoreError
from monitor.storage.lineproto import TAG_NAMES, OutboxRow, encode, series_prefix
from monitor.storage.schema import reader

_FETCH = (
    "SELECT id, series, ts_ns, value, raw, quality, state, device_ts_ns, detail "
    "FROM readings WHERE id > ? AND id <= ? ORDER BY id LIMIT ?"
)


@dataclass
class CursorState:
    cursor: int
    live_from: int | None = None
    live_cursor: int | None = None

    @property
    def split(self) -> bool:
        return self.live_from is not None


@dataclass
class Batch:
    rows: list[OutboxRow]
    lines: list[str]

    @property
    def last_id(self) -> int:
        return self.rows[-1].id


class Outbox:
    def __init__(self, path: Path, sink: str, *, start_at: int) -> None:
        self.sink = sink
        self.path = path
        self._lock = threading.Lock()
        self._conn = reader(path)
        # Losing the last cursor update on power loss only re-sends a batch, which the
        # server overwrites (same series and timestamp): NORMAL is enough here.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._stats = reader(path)  # for scrape-time queries from the event loop thread
        self._prefix: dict[int, str] = {}
        self.state = self._load(start_at)

    def _load(self, start_at: int) -> CursorState:
        with self._lock:
            row = self._conn.execute(
                "SELECT cursor, live_from, live_cursor FROM sink_state WHERE sink = ?", (self.sink,)
            ).fetchone()
            if row is not None:
                return CursorState(*row)
            state = CursorState(start_at)
            self._save(state)
            return state

    def _save(self, state: CursorState, *, now_ns: int = 0) -> None:
        self._conn.execute(
            "INSERT INTO sink_state (sink, cursor, live_from, live_cursor, updated_ns) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (sink) DO UPDATE SET cursor = excluded.cursor, "
            "live_from = excluded.live_from, live_cursor = excluded.live_cursor, "
            "updated_ns = excluded.updated_ns",
            (self.sink, state.cursor, state.live_from, state.live_cursor, now_ns),
        )

    def save(self, state: CursorState, now_ns: int) -> None:
        with self._lock:
            self._save(state, now_ns=now_ns)
        self.state = state

    # ------------------------------------------------------------------ batches
    def fetch(self, after: int, upto: int, limit: int) -> Batch:
        """Readings with ``after < id <= upto``, oldest first, serialised to line protocol."""
        with self._lock:
            try:
                rows = [
                    OutboxRow(*r) for r in self._conn.execute(_FETCH, (after, upto, limit))
                ]
                missing = {r.series for r in rows} - self._prefix.keys()
                if missing:
                    self._load_series(missing)
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: outbox read failed: {err}") from err
        prefix = self._prefix
        return Batch(rows, [encode(prefix[r.series], r) for r in rows])

    def _load_series(self, ids: set[int]) -> None:
        marks = ",".join("?" * len(ids))
        for row in self._conn.execute(
            f"SELECT id, {', '.join(TAG_NAMES)} FROM series WHERE id IN ({marks})",
            tuple(ids),
        ):
            self._prefix[row[0]] = series_prefix(zip(TAG_NAMES, row[1:], strict=True))

    # ------------------------------------------------------------------ quarantine, skips
    def quarantine(
        self, row: OutboxRow, line: str, status: int | None, message: str, now_ns: int
    ) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO quarantine (sink, reading_id, line, status, message, at_ns)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (self.sink, row.id, line, status or 0, message, now_ns),
            )

    def quarantined_count(self) -> int:
        return int(
            self._stats.execute(
                "SELECT count(*) FROM quarantine WHERE sink = ?", (self.sink,)
            ).fetchone()[0]
        )

    def skip(self, first: int, last: int, reason: str, state: CursorState, now_ns: int) -> int:
        """Record that ``first..last`` will not be sent to this sink, and save ``state``."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                count, from_ns, to_ns = conn.execute(
                    "SELECT count(*), min(ts_ns), max(ts_ns) FROM readings "
                    "WHERE id >= ? AND id <= ?", (first, last),
                ).fetchone()
                conn.execute(
                    "INSERT INTO sink_skips (sink, first_id, last_id, count, from_ns, to_ns, "
                    "reason, at_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (self.sink, first, last, count, from_ns, to_ns, reason, now_ns),
                )
                self._save(state, now_ns=now_ns)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        self.state = state
        return int(count)

    # ------------------------------------------------------------------ gauges
    def oldest_pending_ns(self, last_id: int) -> int | None:
        """Receive time of the oldest reading not yet done (a primary-key lookup or two)."""
        s = self.state
        heads = [s.cursor + 1]
        if s.live_cursor is not None:
            heads.append(s.live_cursor + 1)
        times = []
        for head in heads:
            if head > last_id:
                continue
            row = self._stats.execute(
                "SELECT ts_ns FROM readings WHERE id >= ? ORDER BY id LIMIT 1", (head,)
            ).fetchone()
            if row is not None:
                times.append(int(row[0]))
        return min(times) if times else None

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            self._stats.close()
