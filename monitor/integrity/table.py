"""One append-only, hash-chained SQLite table: what every GMP log shares.

The audit trail, the QA review log and the alarm event log differ only in
their columns and in how a stored row turns into the record that is hashed.
Everything that decides whether an inspector can trust them is here, once:
the append-only triggers, appending in one ``BEGIN IMMEDIATE`` transaction on
top of the previous hash (so two processes appending to one file never fork
the chain), the head file written after each append, and verification that
names the first row edited, deleted, inserted, reordered or cut off.

Nothing is cached in memory: every append reads the head inside its
transaction, so opening an existing file (or one another process appends to)
simply continues its chain. The hash of a new row is computed from the values
exactly as they are inserted, through the same function verification uses, so
a writer and the verifier cannot disagree about what was hashed.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from monitor.errors import StoreError
from monitor.logs import log_event
from monitor.model import utc_now_ns
from monitor.sqlite_memory import keep_page_cache_small

from .chain import (
    GENESIS,
    BrokenRow,
    ChainProblem,
    ChainRow,
    append_only_triggers,
    chain_hash,
    chain_hash_of,
    verify_chain,
)
from .headfile import ChainHead, HeadFile, check_against_head

log = logging.getLogger("monitor.integrity")

Row = tuple[Any, ...]
"""A stored row: the spec's columns in order (``seq`` first), then prev_hash and hash."""


@dataclass(frozen=True)
class ChainSpec:
    """What distinguishes one chained table from another."""

    chain: str  # name in published heads: "audit", "qa_review", "alarm_events"
    table: str
    columns: tuple[str, ...]  # stored before prev_hash and hash; "seq" first
    record: Callable[[Row], Mapping[str, Any]]
    """The hashed record of a row (its columns, without the hashes); raises ``BrokenRow``."""
    noun: str  # "the audit trail", for messages
    entry: str  # "audit entry", for "... not written"
    ts_column: str | None = "ts_ns"
    """Column whose value stamps the head after an append; None: read the clock."""

    def __post_init__(self) -> None:
        if not self.columns or self.columns[0] != "seq":
            raise ValueError(f"{self.table}: the first chained column must be seq")


def create_schema(conn: sqlite3.Connection, script: str) -> None:
    """Run ``script`` (CREATE ... IF NOT EXISTS) in one transaction.

    In autocommit mode each statement would be its own transaction, and with
    ``synchronous=FULL`` each syncs the WAL: creating a new log's ~15 tables,
    indexes and triggers took 7-30 ms on the shared machine, 2-7 ms in one.
    On an existing file nothing is written, so the commit syncs nothing.
    """
    try:
        conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nCOMMIT;")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class ChainedTable:
    """One SQLite file holding a chained table (and whatever else its owner keeps there).

    Thread-safe: one connection behind ``lock``. Owners run their own queries
    through ``query`` or, holding ``lock``, on ``conn``.
    """

    def __init__(self, path: str | Path, spec: ChainSpec, *, head_path: str | Path,
                 schema: str = "", readonly: bool = False,
                 clock: Callable[[], int] = utc_now_ns) -> None:
        """Open (or create, with ``schema`` plus the append-only triggers) the file.

        ``readonly`` opens an existing file without creating or changing anything.
        """
        self.path = Path(path)
        self.spec = spec
        self.head_file = HeadFile(head_path)
        self.clock = clock
        self.lock = threading.Lock()
        names = ", ".join((*spec.columns, "prev_hash", "hash"))
        self._select = f"SELECT {names} FROM {spec.table}"
        self._insert = (f"INSERT INTO {spec.table} ({names}) VALUES "
                        f"({','.join('?' * (len(spec.columns) + 2))})")
        try:
            if readonly:
                self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                            isolation_level=None, timeout=30.0,
                                            check_same_thread=False)
                keep_page_cache_small(self.conn)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0,
                                            check_same_thread=False)
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=FULL")
                keep_page_cache_small(self.conn)
                create_schema(self.conn, schema + append_only_triggers(spec.table))
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"{self.path}: cannot open {spec.noun}: {err}") from err
        self._warn_if_behind_head()

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    # --- writing -------------------------------------------------------------------------

    def append(self, make_rows: Callable[[int], Sequence[Row]], *,
               canonical: Callable[[Row], bytes | None] | None = None) -> list[Row]:
        """Append rows in one transaction; the stored rows, hashes included.

        ``make_rows(next_seq)`` runs inside the write transaction (so a rule it
        checks on ``conn`` cannot race another writer) and returns the new rows'
        columns, numbered from ``next_seq`` on. Each is hashed onto the one before
        it; after the commit the head file moves to the last.

        ``canonical(values)``, when given, may return the bytes ``chain.canonical``
        makes of ``spec.record(values)`` where its caller knows them without the
        round trip (None: hash through ``spec.record`` as verification does). The
        alarm event log's record column is that JSON already: re-reading and
        re-writing it for each of a cold start's 2,000 location-state events cost
        ~0.02 s before the first poll. The caller must return exactly those bytes
        (tests/alarms/test_eventlog_hash.py checks it against ``spec.record``).
        """
        spec = self.spec
        with self.lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    seq, prev = self._head_locked()
                    sealed: list[Row] = []
                    for values in make_rows(seq + 1):
                        seq += 1
                        if len(values) != len(spec.columns) or values[0] != seq:
                            raise StoreError(
                                f"{self.path}: {spec.entry} numbered {values[0]} where {seq} "
                                f"is due: rows must continue the chain, column by column")
                        known = None if canonical is None else canonical(values)
                        digest = (chain_hash(prev, spec.record(values)) if known is None
                                  else chain_hash_of(prev, known))
                        sealed.append((*values, prev, digest))
                        prev = digest
                    self.conn.executemany(self._insert, sealed)
                    self.conn.execute("COMMIT")
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: {spec.entry} not written: {err}") from err
        if sealed:
            last = sealed[-1]
            ts = self.clock() if spec.ts_column is None else int(
                last[spec.columns.index(spec.ts_column)])
            self.head_file.write(ChainHead(spec.chain, int(last[0]), str(last[-1]), ts))
        return sealed

    # --- reading -------------------------------------------------------------------------

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        with self.lock:
            try:
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: cannot read {self.spec.noun}: {err}") from err

    def select(self, where: str = "1", params: tuple[Any, ...] = (), *,
               limit: int | None = None) -> list[Row]:
        """Stored rows (columns, prev_hash, hash) matching ``where``, in seq order."""
        sql = f"{self._select} WHERE {where} ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self.query(sql, params)

    def head(self) -> tuple[int, str]:
        """(last seq, last hash); (0, GENESIS) when empty."""
        with self.lock:
            try:
                return self._head_locked()
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: cannot read {self.spec.noun}: {err}") from err

    def _head_locked(self) -> tuple[int, str]:
        row = self.conn.execute(
            f"SELECT seq, hash FROM {self.spec.table} ORDER BY seq DESC LIMIT 1").fetchone()
        return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))

    def current_head(self) -> ChainHead:
        seq, digest = self.head()
        return ChainHead(self.spec.chain, seq, digest, self.clock())

    def publish_head(self) -> ChainHead:
        """Refresh the head file from the database (never backwards); the head read."""
        current = self.current_head()
        self.head_file.write(current)
        return current

    def hash_at(self, seq: int) -> str | None:
        rows = self.query(f"SELECT hash FROM {self.spec.table} WHERE seq = ?", (seq,))
        return str(rows[0][0]) if rows else None

    # --- verification --------------------------------------------------------------------

    def verify(self, published: Sequence[ChainHead] = ()) -> ChainProblem | None:
        """Recompute the chain and compare it with its head file and any ``published`` heads.

        Returns the first problem: a row whose content no longer matches its hash
        (edited), a hole in seq (deleted), a broken link (inserted, reordered, or
        deleted and renumbered), a row that cannot be what was hashed, the
        newest rows cut off (a head is ahead of the database), or a rewritten
        chain (the hash at a head's seq differs). ``published`` are heads kept
        outside the data directory (log, InfluxDB): they catch a rewrite even
        when the head file was rewritten with it.
        """
        for given in published:
            if given.chain != self.spec.chain:
                raise ValueError(f"a head of chain {given.chain!r} given to {self.spec.chain!r}")
        # The head file first: writers move it after committing, so one read before the
        # rows can never be ahead of them unless the file was tampered with.
        heads: list[ChainHead | None] = [self.head_file.read(), *published]
        wanted = {h.seq for h in heads if h is not None}
        found: dict[int, str] = {}
        last = [0]
        with self.lock:
            try:
                cursor = self.conn.execute(f"{self._select} ORDER BY seq")
                try:
                    problem = verify_chain(self._chain_rows(cursor, wanted, found, last))
                finally:
                    # Stopping at the first problem leaves the statement open, and with it a
                    # read snapshot that would hide later commits from this connection.
                    cursor.close()
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: cannot read {self.spec.noun}: {err}") from err
        if problem is not None:
            return problem
        for head in heads:
            problem = check_against_head(head, found.get, last[0], entries_exist=last[0] > 0)
            if problem is not None:
                return problem
        return None

    def _chain_rows(self, cursor: sqlite3.Cursor, wanted: set[int], found: dict[int, str],
                    last: list[int]) -> Iterator[ChainRow]:
        width = len(self.spec.columns)
        for row in cursor:
            seq, digest = int(row[0]), str(row[-1])
            try:
                record: Mapping[str, Any] | BrokenRow = self.spec.record(row[:width])
            except BrokenRow as broken:
                record = BrokenRow(str(broken))  # without the traceback that holds this frame
            if seq in wanted:
                found[seq] = digest
            last[0] = seq
            yield seq, record, str(row[-2]), digest

    def _warn_if_behind_head(self) -> None:
        try:
            published = self.head_file.read()
            seq, _ = self.head()
        except StoreError as err:
            log_event(log, logging.ERROR, "chain not checked against its head",
                      chain=self.spec.chain, error=str(err), path=str(self.path))
            return
        if published is not None and published.seq > seq:
            log_event(log, logging.ERROR, f"{self.spec.noun} is behind its published head",
                      chain=self.spec.chain, db_seq=seq, head_seq=published.seq,
                      path=str(self.path))


class ChainedLog:
    """Base of a log kept in a ``ChainedTable``: what every chained log offers its callers.

    A subclass sets ``chain_name`` and ``self.table`` and adds its own rows and queries.
    It is a ``HeadSource`` for ``publish_heads``.
    """

    chain_name: str
    table: ChainedTable

    @property
    def head_file(self) -> HeadFile:
        return self.table.head_file

    def close(self) -> None:
        self.table.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def head(self) -> tuple[int, str]:
        """(last seq, last hash); (0, GENESIS) when empty."""
        return self.table.head()

    def current_head(self) -> ChainHead:
        return self.table.current_head()

    def publish_head(self) -> ChainHead:
        """Refresh the head file from the database (for ``publish_heads``)."""
        return self.table.publish_head()

    def verify(self, published: Sequence[ChainHead] = ()) -> ChainProblem | None:
        """Recompute the chain; compare it with the head file and any ``published`` heads."""
        return self.table.verify(published)


def span_filter(*, after_seq: int = 0, from_ns: int | None = None, to_ns: int | None = None,
                **equal: Any) -> tuple[list[str], list[Any]]:
    """WHERE terms and parameters: seq after ``after_seq``, ``from_ns <= ts_ns < to_ns``, and
    ``column = value`` for each of ``equal`` that is not None (column names come from code)."""
    where, params = ["seq > ?"], [after_seq]
    if from_ns is not None:
        where.append("ts_ns >= ?")
        params.append(from_ns)
    if to_ns is not None:
        where.append("ts_ns < ?")
        params.append(to_ns)
    for column, value in equal.items():
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    return where, params
