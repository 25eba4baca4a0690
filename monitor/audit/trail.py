"""The audit trail: one append-only, hash-chained SQLite table of GMP-relevant actions.

21 CFR 11.10(e) and EU GMP Annex 11 §9 ask for a secure, computer-generated,
time-stamped trail that never obscures previous values. Here every entry
keeps the old and the new value, SQLite triggers refuse UPDATE and DELETE,
each entry's SHA-256 covers its content and the previous entry's hash, and
the head is published outside the file (``audit.head``) so that cutting
entries off the end is detected too.

Both the daemon and CLI commands append to the same file; ``BEGIN IMMEDIATE``
serialises them so that seq and prev_hash are read and written atomically.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from monitor.errors import StoreError
from monitor.integrity import (
    GENESIS,
    ChainProblem,
    append_only_triggers,
    chain_hash,
    verify_chain,
)
from monitor.logs import log_event
from monitor.model import utc_now_ns

from .head import ChainHead, HeadFile, check_against_head
from .timefmt import iso_utc

log = logging.getLogger("monitor.audit")

DB_NAME = "audit.db"
HEAD_NAME = "audit.head"
SYSTEM_USER = "system"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    ts_iso TEXT NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT,
    reason TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_ts ON audit(ts_ns);
CREATE INDEX IF NOT EXISTS audit_object ON audit(object);
CREATE TABLE IF NOT EXISTS config_versions (
    sha256 TEXT PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    path TEXT NOT NULL,
    text TEXT NOT NULL
);
""" + append_only_triggers("audit") + append_only_triggers("config_versions")


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    ts_ns: int
    ts_iso: str
    user: str
    action: str
    object: str
    old: str | None  # JSON text, exactly as hashed
    new: str | None
    reason: str | None
    prev_hash: str
    hash: str

    def hashed_record(self) -> dict[str, Any]:
        """The fields the hash covers (everything but the hashes themselves)."""
        return {
            "seq": self.seq, "ts_ns": self.ts_ns, "ts_iso": self.ts_iso, "user": self.user,
            "action": self.action, "object": self.object, "old": self.old, "new": self.new,
            "reason": self.reason,
        }

    @property
    def old_value(self) -> Any:
        return None if self.old is None else json.loads(self.old)

    @property
    def new_value(self) -> Any:
        return None if self.new is None else json.loads(self.new)

    def as_dict(self) -> dict[str, Any]:
        return {**self.hashed_record(), "prev_hash": self.prev_hash, "hash": self.hash}


def _to_json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


_COLUMNS = "seq, ts_ns, ts_iso, user, action, object, old_value, new_value, reason, prev_hash, hash"


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    return AuditEntry(int(row[0]), int(row[1]), str(row[2]), str(row[3]), str(row[4]),
                      str(row[5]), row[6], row[7], row[8], str(row[9]), str(row[10]))


class AuditTrail:
    """``<data_dir>/audit.db`` and its head file ``<data_dir>/audit.head``.

    Thread-safe (one connection behind a lock); ``arecord`` runs the write in a
    worker thread for callers on the event loop.
    """

    chain_name = "audit"

    def __init__(self, data_dir: str | Path, *, clock: Callable[[], int] = utc_now_ns) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        self.head_file = HeadFile(self.data_dir / HEAD_NAME)
        self.clock = clock
        self._lock = threading.Lock()
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0,
                                         check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"{self.path}: cannot open the audit trail: {err}") from err
        self._warn_if_behind_head()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> AuditTrail:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- writing -------------------------------------------------------------------------

    def record(
        self,
        user: str,
        action: str,
        object: str,
        *,
        old: Any = None,
        new: Any = None,
        reason: str | None = None,
    ) -> AuditEntry:
        """Append one entry; ``old``/``new`` are any JSON-serialisable values."""
        if not user or not action or not object:
            raise StoreError("an audit entry needs a user, an action and an object")
        old_text, new_text = _to_json(old), _to_json(new)
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    row = self._conn.execute(
                        "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
                    seq, prev = (1, GENESIS) if row is None else (int(row[0]) + 1, str(row[1]))
                    ts_ns = self.clock()
                    partial = AuditEntry(seq, ts_ns, iso_utc(ts_ns), user, str(action), object,
                                         old_text, new_text, reason, prev, "")
                    digest = chain_hash(prev, partial.hashed_record())
                    self._conn.execute(
                        f"INSERT INTO audit ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        (seq, ts_ns, partial.ts_iso, user, str(action), object, old_text,
                         new_text, reason, prev, digest),
                    )
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: audit entry not written: {err}") from err
        entry = replace(partial, hash=digest)
        self.head_file.write(ChainHead(self.chain_name, seq, digest, ts_ns))
        return entry

    async def arecord(self, user: str, action: str, object: str, *,
                      old: Any = None, new: Any = None, reason: str | None = None) -> AuditEntry:
        return await asyncio.to_thread(
            lambda: self.record(user, action, object, old=old, new=new, reason=reason))

    def store_config_text(self, sha256: str, path: str, text: str) -> None:
        """Keep a config version's text once, so that later loads can be diffed against it."""
        with self._lock:
            try:
                self._conn.execute(
                    "INSERT OR IGNORE INTO config_versions (sha256, ts_ns, path, text) "
                    "VALUES (?,?,?,?)", (sha256, self.clock(), path, text))
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: config text not stored: {err}") from err

    def config_text(self, sha256: str) -> str | None:
        row = self._query("SELECT text FROM config_versions WHERE sha256 = ?", (sha256,))
        return None if not row else str(row[0][0])

    # --- reading -------------------------------------------------------------------------

    def head(self) -> tuple[int, str]:
        """(last seq, last hash); (0, GENESIS) for an empty trail."""
        rows = self._query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        return (0, GENESIS) if not rows else (int(rows[0][0]), str(rows[0][1]))

    def current_head(self) -> ChainHead:
        seq, digest = self.head()
        return ChainHead(self.chain_name, seq, digest, self.clock())

    def publish_head(self) -> ChainHead:
        """Refresh the head file from the database (for ``publish_heads``)."""
        head = self.current_head()
        self.head_file.write(head)
        return head

    def get(self, seq: int) -> AuditEntry | None:
        rows = self._query(f"SELECT {_COLUMNS} FROM audit WHERE seq = ?", (seq,))
        return _entry(rows[0]) if rows else None

    def entries(
        self,
        *,
        from_ns: int | None = None,
        to_ns: int | None = None,
        user: str | None = None,
        action: str | None = None,
        object_prefix: str | None = None,
        after_seq: int = 0,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Entries in seq order, filtered; ``to_ns`` is exclusive."""
        where: list[str] = ["seq > ?"]
        params: list[Any] = [after_seq]
        if from_ns is not None:
            where.append("ts_ns >= ?")
            params.append(from_ns)
        if to_ns is not None:
            where.append("ts_ns < ?")
            params.append(to_ns)
        if user is not None:
            where.append("user = ?")
            params.append(user)
        if action is not None:
            where.append("action = ?")
            params.append(str(action))
        if object_prefix is not None:
            where.append("substr(object, 1, ?) = ?")
            params.extend([len(object_prefix), object_prefix])
        sql = f"SELECT {_COLUMNS} FROM audit WHERE {' AND '.join(where)} ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_entry(row) for row in self._query(sql, tuple(params))]

    def verify(self) -> ChainProblem | None:
        """Recompute the whole chain and compare it with the published head.

        Returns the first problem: an altered entry (its hash no longer matches), a
        removed one (a hole in seq, or a broken link), one inserted out of order
        (a broken link), or entries cut off the end (the head file is ahead).
        """
        with self._lock:
            try:
                cursor = self._conn.execute(f"SELECT {_COLUMNS} FROM audit ORDER BY seq")
                problem = verify_chain(_chain_rows(cursor))
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: cannot read the audit trail: {err}") from err
        if problem is not None:
            return problem
        seq, _ = self.head()
        return check_against_head(
            self.head_file.read(), self._hash_at, seq, entries_exist=seq > 0
        )

    def _hash_at(self, seq: int) -> str | None:
        rows = self._query("SELECT hash FROM audit WHERE seq = ?", (seq,))
        return str(rows[0][0]) if rows else None

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: cannot read the audit trail: {err}") from err

    def _warn_if_behind_head(self) -> None:
        published = self.head_file.read()
        seq, _ = self.head()
        if published is not None and published.seq > seq:
            log_event(log, logging.ERROR, "audit trail is behind its published head",
                      db_seq=seq, head_seq=published.seq, path=str(self.path))


def _chain_rows(cursor: sqlite3.Cursor) -> Iterator[tuple[int, dict[str, Any], str, str]]:
    for row in cursor:
        entry = _entry(row)
        yield entry.seq, entry.hashed_record(), entry.prev_hash, entry.hash
