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
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.errors import StoreError
from monitor.integrity import (
    ChainedLog,
    ChainedTable,
    ChainSpec,
    Row,
    append_only_triggers,
    span_filter,
)
from monitor.model import utc_now_ns

from .timefmt import iso_utc

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
""" + append_only_triggers("config_versions")


_STORE_CONFIG = ("INSERT OR IGNORE INTO config_versions (sha256, ts_ns, path, text) "
                 "VALUES (?,?,?,?)")


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


_COLUMNS = ("seq", "ts_ns", "ts_iso", "user", "action", "object", "old_value", "new_value",
            "reason")


def _entry(row: Row) -> AuditEntry:
    return AuditEntry(int(row[0]), int(row[1]), str(row[2]), str(row[3]), str(row[4]),
                      str(row[5]), row[6], row[7], row[8], str(row[9]), str(row[10]))


def _record(values: Row) -> dict[str, Any]:
    return _entry((*values, "", "")).hashed_record()


SPEC = ChainSpec(chain="audit", table="audit", columns=_COLUMNS, record=_record,
                 noun="the audit trail", entry="audit entry")


class AuditTrail(ChainedLog):
    """``<data_dir>/audit.db`` and its head file ``<data_dir>/audit.head``.

    Thread-safe (one connection behind a lock); ``arecord`` runs the write in a
    worker thread for callers on the event loop. ``head``, ``publish_head`` and
    ``verify`` come from ``ChainedLog``.
    """

    chain_name = SPEC.chain

    def __init__(self, data_dir: str | Path, *, clock: Callable[[], int] = utc_now_ns) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        self.clock = clock
        self.table = ChainedTable(self.path, SPEC, head_path=self.data_dir / HEAD_NAME,
                                  schema=_SCHEMA, clock=clock)

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
        config_version: tuple[str, str, str] | None = None,
    ) -> AuditEntry:
        """Append one entry; ``old``/``new`` are any JSON-serialisable values.

        ``config_version`` (sha256, path, text) is kept as ``store_config_text`` does,
        in the entry's transaction: the entry naming a config and that config's text
        are committed together, with one sync of the log instead of two.
        """
        if not user or not action or not object:
            raise StoreError("an audit entry needs a user, an action and an object")
        old_text, new_text = _to_json(old), _to_json(new)

        def row(seq: int) -> list[Row]:
            ts_ns = self.clock()
            if config_version is not None:
                self.table.conn.execute(_STORE_CONFIG, (config_version[0], ts_ns,
                                                        *config_version[1:]))
            return [(seq, ts_ns, iso_utc(ts_ns), user, str(action), object, old_text, new_text,
                     reason)]

        return _entry(self.table.append(row)[0])

    async def arecord(self, user: str, action: str, object: str, *,
                      old: Any = None, new: Any = None, reason: str | None = None) -> AuditEntry:
        return await asyncio.to_thread(
            lambda: self.record(user, action, object, old=old, new=new, reason=reason))

    def store_config_text(self, sha256: str, path: str, text: str) -> None:
        """Keep a config version's text once, so that later loads can be diffed against it."""
        with self.table.lock:
            try:
                self.table.conn.execute(_STORE_CONFIG, (sha256, self.clock(), path, text))
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: config text not stored: {err}") from err

    def config_text(self, sha256: str) -> str | None:
        row = self.table.query("SELECT text FROM config_versions WHERE sha256 = ?", (sha256,))
        return None if not row else str(row[0][0])

    # --- reading -------------------------------------------------------------------------

    def get(self, seq: int) -> AuditEntry | None:
        rows = self.table.select("seq = ?", (seq,))
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
        where, params = span_filter(after_seq=after_seq, from_ns=from_ns, to_ns=to_ns,
                                    user=user, action=None if action is None else str(action))
        if object_prefix is not None:
            where.append("substr(object, 1, ?) = ?")
            params.extend([len(object_prefix), object_prefix])
        rows = self.table.select(" AND ".join(where), tuple(params), limit=limit)
        return [_entry(row) for row in rows]
