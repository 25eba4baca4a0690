"""Hash chaining for append-only GMP records (audit trail, review log, alarm event log).

Each record's hash covers its canonical JSON and the previous record's hash,
so altering, deleting or inserting a row anywhere breaks every hash after it
(21 CFR 11.10(e): audit trails that do not obscure previous values). SQLite
triggers reject UPDATE and DELETE on such tables; the chain catches what is
done to the file behind SQLite's back. The chain head is also published
(log, InfluxDB) so that truncating the whole file is detectable.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def canonical(record: Mapping[str, Any]) -> bytes:
    """Stable bytes for a record: sorted keys, no whitespace, UTF-8."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()


def chain_hash(prev_hash: str, record: Mapping[str, Any]) -> str:
    return chain_hash_of(prev_hash, canonical(record))


def chain_hash_of(prev_hash: str, canonical_bytes: bytes) -> str:
    """``chain_hash`` of a record whose ``canonical`` bytes the caller already holds."""
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical_bytes).hexdigest()


def append_only_triggers(table: str) -> str:
    """DDL making ``table`` refuse UPDATE and DELETE inside SQLite."""
    return f"""
    CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table}
    BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END;
    CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table}
    BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END;
    """


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    message: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.message}"


class BrokenRow(ValueError):
    """A stored row that cannot be what was hashed (unreadable JSON, copies that disagree).

    Raised by a table's row-to-record function; verification reports it as that
    row's problem, in seq order with the others.
    """


ChainRow = tuple[int, "Mapping[str, Any] | BrokenRow", str, str]


def verify_chain(rows: Iterable[ChainRow]) -> ChainProblem | None:
    """Check rows of ``(seq, record, prev_hash, hash)`` in seq order; first problem or None.

    Sequence numbers must run 1, 2, 3... without holes (a deleted row), each
    ``prev_hash`` must equal the previous row's ``hash`` (an inserted or
    reordered row), and each ``hash`` must match its content (an edited row).
    A ``BrokenRow`` in place of the record is reported at its row.
    """
    expected_seq = 1
    prev = GENESIS
    for seq, record, prev_hash, digest in rows:
        if seq != expected_seq:
            if seq > expected_seq:
                return ChainProblem(expected_seq, f"missing (next entry present is {seq})")
            return ChainProblem(seq, "out of order or duplicated sequence number")
        if prev_hash != prev:
            return ChainProblem(seq, "does not link to the previous entry (inserted or removed)")
        if isinstance(record, BrokenRow):
            return ChainProblem(seq, str(record))
        if chain_hash(prev_hash, record) != digest:
            return ChainProblem(seq, "content does not match its hash (altered)")
        prev = digest
        expected_seq += 1
    return None


def head(conn: sqlite3.Connection, table: str) -> tuple[int, str]:
    """(last seq, last hash) of a chained table, (0, GENESIS) when empty."""
    row = conn.execute(f"SELECT seq, hash FROM {table} ORDER BY seq DESC LIMIT 1").fetchone()
    return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))
