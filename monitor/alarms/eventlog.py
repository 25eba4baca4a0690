"""The alarm event log: ``<data_dir>/alarms.db``, append-only and hash-chained.

Every ``AlarmEvent`` becomes one row; rows are inserted, never updated or
deleted (SQLite triggers refuse both), and each row's hash covers its record
and the previous row's hash, so an edit, a removal or an insertion anywhere is
found by ``verify()``. The head (last seq and hash) is also written to
``alarms.head`` after each append, which catches the newest rows being cut off.
Excursion records and the engine's state after a restart are derived from
these rows; nothing else is stored about alarms.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

from monitor.errors import StoreError
from monitor.integrity import (
    BrokenRow,
    ChainedLog,
    ChainedTable,
    ChainSpec,
    Row,
    append_only_triggers,
    span_filter,
)

from .events import AlarmEvent

DB_NAME = "alarms.db"
HEAD_NAME = "alarms.head"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    kind TEXT NOT NULL,
    alarm_id INTEGER,
    point TEXT,
    location TEXT,
    state TEXT,
    record TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_point ON events(point, seq);
CREATE INDEX IF NOT EXISTS events_alarm ON events(alarm_id, seq);
CREATE INDEX IF NOT EXISTS events_kind_ts ON events(kind, ts_ns);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ns INTEGER NOT NULL,
    op TEXT NOT NULL,
    args TEXT NOT NULL,
    user TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS request_results (
    request_id INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    message TEXT NOT NULL,
    events TEXT NOT NULL
);
""" + "".join(append_only_triggers(t) for t in ("meta", "requests", "request_results"))

COLUMNS = ("kind", "alarm_id", "point", "location", "state")
"""Columns copied out of the record for queries; ``verify`` checks they still match it."""


_COPIED = ("seq", "ts_ns", *COLUMNS)


def _record(values: Row) -> dict[str, Any]:
    """The hashed record is the ``record`` column's JSON; the copies beside it must agree."""
    *copies, text = values
    try:
        record = json.loads(text)
    except (TypeError, ValueError) as err:
        raise BrokenRow("record is not valid JSON (altered)") from err
    if not isinstance(record, dict):
        raise BrokenRow("record is not valid JSON (altered)")
    if tuple(copies) != tuple(record.get(c) for c in _COPIED):
        raise BrokenRow("columns do not match the hashed record (altered)")
    return record


SPEC = ChainSpec(chain="alarm_events", table="events", columns=(*_COPIED, "record"),
                 record=_record, noun="the alarm event log", entry="alarm events", ts_column=None)


# Loose index scans: step from one point to the next through the index, then take each
# point's last seq with one seek. ``GROUP BY point`` walked every index entry, so a
# start took time in proportion to the whole log; this is points x log(events).
_LAST_PER_POINT = """
WITH RECURSIVE points(point) AS (
    SELECT MIN(point) FROM events
    UNION ALL
    SELECT (SELECT MIN(point) FROM events WHERE point > points.point)
    FROM points WHERE points.point IS NOT NULL
)
SELECT (SELECT MAX(seq) FROM events WHERE point = points.point)
FROM points WHERE points.point IS NOT NULL
"""

# Shelving changes are read through ``events_kind_ts`` (kind = ?), in proportion to the
# shelving events, not the log. A per-point seek would need a new index on (point, seq)
# of the shelving kinds, and the file's schema is kept as the earlier writers made it
# (tests/integrity/test_compat.py). Events without a point form a group of their own.
_LAST_SHELVING_PER_POINT = (
    "SELECT MAX(seq) FROM events WHERE kind IN ('shelved', 'unshelved') GROUP BY point")


class EventLog(ChainedLog):
    """One connection to the event log; thread-safe behind a lock.

    ``head``, ``publish_head`` and ``verify`` (chain, query columns, published
    heads) come from ``ChainedLog``.
    """

    chain_name = SPEC.chain

    def __init__(self, data_dir: str | Path, *, readonly: bool = False) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        if readonly and not self.path.exists():
            raise StoreError(f"{self.path}: no alarm event log here yet")
        self.table = ChainedTable(self.path, SPEC, head_path=self.data_dir / HEAD_NAME,
                                  schema=SCHEMA, readonly=readonly)
        self._conn = self.table.conn
        try:
            if not readonly:
                self._conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                                   ("log_id", secrets.token_hex(4)))
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'log_id'").fetchone()
        except sqlite3.Error as err:
            raise StoreError(f"{self.path}: cannot open the alarm event log: {err}") from err
        self.log_id = str(row[0]) if row else "ro"
        self._data_version = self._pragma_data_version()

    # --- writing -------------------------------------------------------------------------

    def append(self, events: Sequence[AlarmEvent]) -> None:
        """Insert ``events`` (whose seqs must continue the log) in one transaction."""
        if not events:
            return
        seen: list[int] = []

        def rows(next_seq: int) -> list[Row]:
            if events[0].seq != next_seq:
                raise StoreError(
                    f"{self.path}: event {events[0].seq} does not follow the log's last "
                    f"entry {next_seq - 1}: another process wrote to the log")
            # Inside the write transaction no other connection can commit, so this is
            # the version after our commit too.
            seen.append(self._pragma_data_version())
            out: list[Row] = []
            for e in events:
                record = e.to_json()
                text = _dump(record)
                if _round_trips(record):
                    known[e.seq] = text
                out.append((e.seq, e.ts_ns, str(e.kind), e.alarm_id, e.point, e.location,
                            None if e.state is None else str(e.state), text))
            return out

        known: dict[int, str] = {}

        def canonical(values: Row) -> bytes | None:
            # ``_dump`` is ``canonical`` of the record: where reading the text back gives
            # the same dict, its bytes are what verification hashes.
            text = known.get(values[0])
            return None if text is None or text is not values[-1] else text.encode()

        self.table.append(rows, canonical=canonical)
        self._data_version = seen[0]

    # --- reading -------------------------------------------------------------------------

    def changed_by_others(self) -> bool:
        """True when another connection committed since we last looked (cheap: a pragma)."""
        with self.table.lock:
            version = self._pragma_data_version()
            changed = version != self._data_version
            self._data_version = version
            return changed

    def _pragma_data_version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def events(self, *, after_seq: int = 0, alarm_id: int | None = None,
               from_ns: int | None = None, to_ns: int | None = None,
               limit: int | None = None) -> list[AlarmEvent]:
        """Events in seq order, filtered; ``to_ns`` is exclusive."""
        where, params = span_filter(after_seq=after_seq, from_ns=from_ns, to_ns=to_ns,
                                    alarm_id=alarm_id)
        sql = f"SELECT record FROM events WHERE {' AND '.join(where)} ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [AlarmEvent.from_json(json.loads(r[0])) for r in self._query(sql, tuple(params))]

    def events_of_alarms(self, alarm_ids: Iterable[int]) -> list[AlarmEvent]:
        ids = sorted(set(alarm_ids))
        out: list[AlarmEvent] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            out.extend(AlarmEvent.from_json(json.loads(r[0])) for r in self._query(
                f"SELECT record FROM events WHERE alarm_id IN ({marks}) ORDER BY seq",
                tuple(chunk)))
        out.sort(key=lambda e: e.seq)
        return out

    def rebuild_events(self) -> list[AlarmEvent]:
        """The events that decide the current state, in seq order.

        The last event of every point (alarm points, locations, maintenance
        targets), the last shelving change of every point, and every event of
        the alarms still open: enough to restore without reading the whole log.
        """
        seqs = {int(r[0]) for r in self._query(_LAST_PER_POINT)} | {
            int(r[0]) for r in self._query(_LAST_SHELVING_PER_POINT)}
        rows = self._rows_by_seq(seqs)
        open_ids = {e.alarm_id for e in rows if e.alarm_id is not None and e.state is not None
                    and str(e.state) != "normal"}
        by_seq = {e.seq: e for e in rows}
        for event in self.events_of_alarms(i for i in open_ids if i is not None):
            by_seq[event.seq] = event
        return [by_seq[s] for s in sorted(by_seq)]

    def raise_hash(self, alarm_id: int) -> str | None:
        """Chain hash of the event that raised ``alarm_id``: what a signature binds to."""
        rows = self._query("SELECT hash FROM events WHERE alarm_id = ? AND kind = 'raised' "
                           "ORDER BY seq LIMIT 1", (alarm_id,))
        return str(rows[0][0]) if rows else None

    def max_alarm_id(self) -> int:
        row = self._query("SELECT MAX(alarm_id) FROM events")
        return int(row[0][0]) if row and row[0][0] is not None else 0

    def alarm_ids_between(self, from_ns: int, to_ns: int, location: str | None) -> list[int]:
        """Alarms raised before ``to_ns`` that had not returned to normal before ``from_ns``."""
        sql = ("SELECT DISTINCT e.alarm_id FROM events e WHERE e.kind = 'raised' "
               "AND e.ts_ns < ? AND NOT EXISTS (SELECT 1 FROM events c WHERE "
               "c.alarm_id = e.alarm_id AND c.state = 'normal' AND c.ts_ns < ?)")
        params: list[Any] = [to_ns, from_ns]
        if location is not None:
            sql += " AND e.location = ?"
            params.append(location)
        return [int(r[0]) for r in self._query(sql, tuple(params))]

    def _rows_by_seq(self, seqs: Iterable[int]) -> list[AlarmEvent]:
        wanted = sorted(seqs)
        out: list[AlarmEvent] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            out.extend(AlarmEvent.from_json(json.loads(r[0])) for r in self._query(
                f"SELECT record FROM events WHERE seq IN ({marks})", tuple(chunk)))
        return out

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.table.query(sql, params)

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """For the request queue (same file, same connection)."""
        return self._query(sql, params)

    def insert(self, sql: str, params: tuple[Any, ...]) -> int:
        """One INSERT in its own transaction; the new row's id."""
        with self.table.lock:
            try:
                cursor = self._conn.execute(sql, params)
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: not written: {err}") from err
            return int(cursor.lastrowid or 0)


def _round_trips(value: Any) -> bool:
    """True when ``_dump(value)`` read back and dumped again gives the same text.

    JSON turns every key into a string: a dict with another kind of key (an int)
    is sorted before that and may come back in another order, so it is hashed
    through the round trip (``_record``), as verification hashes it. Values of
    any other kind come back as they were written (floats through ``repr``,
    objects as the ``str`` written for them).
    """
    if isinstance(value, dict):
        if not _STR_ONLY.issuperset(map(type, value)):
            return False
        items: Iterable[Any] = value.values()
    elif isinstance(value, list | tuple):
        items = value
    else:
        return True
    for item in items:  # mostly scalars, passed by their type alone
        if type(item) not in _SCALARS and isinstance(item, _NESTED) and not _round_trips(item):
            return False
    return True


_NESTED = (dict, list, tuple)
_STR_ONLY = frozenset({str})
_SCALARS = frozenset({str, int, float, bool, type(None)})
#: ``json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
#: default=str)``'s encoder, made once: ``dumps`` builds an encoder for each call, a third
#: of its time for a record (2,000 location states at a cold start). No check for circular
#: references: a record is a tree (one with a cycle fails either way).
_ENCODE = (None if c_make_encoder is None else c_make_encoder(
    None, str, encode_basestring, None, ":", ",", True, False, True))


def _dump(record: dict[str, Any]) -> str:
    if _ENCODE is not None:
        return "".join(_ENCODE(record, 0))
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
