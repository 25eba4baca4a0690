"""One sink's view of ``readings.db`` as an outbox: its cursor, batches, quarantine, skips.

A sink's progress is kept as ids into the ``readings`` table (ids grow with
``AUTOINCREMENT`` and are never reused):

* ``cursor``: every reading with ``id <= cursor`` is done (acknowledged by a
  2xx, quarantined or skipped at the bound);
* ``done``: ranges ``(lo, hi]`` above the cursor that are done too. They exist
  while the sink catches up after an outage: the readings that piled up are
  the backlog, sent oldest first from the cursor, while readings arriving
  meanwhile are sent at once after the highest done range (the live head).
  When the cursor reaches a done range the two join. A second outage during
  a catch-up simply leaves a second gap, sent after the first.

Only rows at or below the smallest ``cursor`` of all sinks may be removed by
retention, so nothing leaves the outbox before the server confirmed it.

Every method here is synchronous and runs on a worker thread; the object's
lock serialises its connection.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from monitor.errors import StoreError
from monitor.storage.lineproto import TAG_NAMES, OutboxRow, encode, series_prefix
from monitor.storage.schema import APPLICATION_ID

_FETCH = (
    "SELECT id, series, ts_ns, value, raw, quality, state, device_ts_ns, detail "
    "FROM readings WHERE id > ? AND id <= ? ORDER BY id LIMIT ?"
)


def open_reader(path: Path) -> sqlite3.Connection:
    """A connection for cursors and queries while another connection of this process writes.

    Unlike ``schema.reader`` it never opens the file outside SQLite: closing any
    descriptor of the file drops every POSIX lock the process holds on it, after
    which another process closing its connection takes itself for the last one
    and deletes the WAL under the daemon (its later commits are then invisible
    to other processes, and lost at the next start). SQLite itself refuses a
    file that is not a database.
    """
    if not path.exists():
        raise StoreError(f"{path}: no readings database (has the service ever run here?)")
    try:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as err:
        raise StoreError(f"{path}: cannot open the readings database: {err}") from err
    try:
        conn.execute("PRAGMA busy_timeout=10000").fetchall()
        if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
            raise StoreError(f"{path}: not a cleanroom-monitor readings database")
    except BaseException as err:
        conn.close()
        if isinstance(err, sqlite3.DatabaseError):
            raise StoreError(f"{path}: cannot read the readings database: {err}") from err
        raise
    return conn


@dataclass(frozen=True)
class CursorState:
    cursor: int
    done: tuple[tuple[int, int], ...] = ()  # (lo, hi] ranges above the cursor, ascending

    @property
    def split(self) -> bool:
        """True while a backlog is sent behind the live head."""
        return bool(self.done)

    @property
    def head(self) -> int:
        """Live readings are those after this id."""
        return self.done[-1][1] if self.done else self.cursor

    @property
    def backlog_end(self) -> int | None:
        """End of the oldest gap ``(cursor, backlog_end]`` still to send, if catching up."""
        return self.done[0][0] if self.done else None

    def is_done(self, reading_id: int) -> bool:
        return reading_id <= self.cursor or any(lo < reading_id <= hi for lo, hi in self.done)

    def pending(self, last_id: int) -> int:
        return max(0, last_id - self.cursor - sum(hi - lo for lo, hi in self.done))

    def mark(self, lo: int, hi: int) -> CursorState:
        """This state with ``(lo, hi]`` done as well; ranges that touch are joined."""
        cursor = self.cursor
        merged: list[tuple[int, int]] = []
        for a, b in sorted([*self.done, (lo, hi)]):
            if a <= cursor:
                cursor = max(cursor, b)
            elif merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        return CursorState(cursor, tuple(merged))


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
        self._conn = open_reader(path)
        # Losing the last cursor update on power loss only re-sends a batch, which the
        # server overwrites (same series and timestamp): NORMAL is enough here.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._stats = open_reader(path)  # for scrape-time queries from the event loop thread
        self._prefix: dict[int, str] = {}
        self.state = self._load(start_at)

    def _load(self, start_at: int) -> CursorState:
        with self._lock:
            row = self._conn.execute(
                "SELECT cursor, done_ranges FROM sink_state WHERE sink = ?", (self.sink,)
            ).fetchone()
            if row is not None:
                ranges = tuple((int(lo), int(hi)) for lo, hi in json.loads(row[1]))
                return CursorState(int(row[0]), ranges)
            state = CursorState(start_at)
            self._save(state)
            return state

    def _save(self, state: CursorState, *, now_ns: int = 0) -> None:
        self._conn.execute(
            "INSERT INTO sink_state (sink, cursor, done_ranges, updated_ns) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (sink) DO UPDATE SET cursor = excluded.cursor, "
            "done_ranges = excluded.done_ranges, updated_ns = excluded.updated_ns",
            (self.sink, state.cursor, json.dumps(state.done), now_ns),
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
        """Receive time of the oldest reading not yet done: the one after the cursor."""
        head = self.state.cursor + 1
        if head > last_id:
            return None
        row = self._stats.execute(
            "SELECT ts_ns FROM readings WHERE id >= ? ORDER BY id LIMIT 1", (head,)
        ).fetchone()
        return None if row is None else int(row[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            self._stats.close()
