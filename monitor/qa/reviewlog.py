"""The excursion review log: ``<data_dir>/qa.db``, append-only and hash-chained.

A review is never edited: a changed root cause is a new event that
supersedes the old one, so an inspector sees what QA first thought, what
they later concluded, who wrote each and when. The current state of a review
is the fold of its events (``workflow.ReviewState``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.audit.head import ChainHead, HeadFile, check_against_head
from monitor.audit.timefmt import iso_utc
from monitor.errors import StoreError
from monitor.integrity import GENESIS, ChainProblem, append_only_triggers, chain_hash, verify_chain
from monitor.model import utc_now_ns

DB_NAME = "qa.db"
HEAD_NAME = "qa.head"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS review_events (
    seq INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    ts_iso TEXT NOT NULL,
    excursion_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    user TEXT NOT NULL,
    data TEXT NOT NULL,
    signature TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS review_events_excursion ON review_events(excursion_id);
""" + append_only_triggers("review_events")

_COLUMNS = "seq, ts_ns, ts_iso, excursion_id, kind, user, data, signature, prev_hash, hash"


@dataclass(frozen=True)
class ReviewEvent:
    seq: int
    ts_ns: int
    ts_iso: str
    excursion_id: str
    kind: str  # review_started, updated, commented, closed
    user: str
    data: str  # JSON text, as hashed
    signature: str | None  # JSON text of a Signature, as hashed
    prev_hash: str
    hash: str

    @property
    def values(self) -> dict[str, Any]:
        loaded = json.loads(self.data)
        return loaded if isinstance(loaded, dict) else {}

    @property
    def signature_dict(self) -> dict[str, Any] | None:
        return None if self.signature is None else dict(json.loads(self.signature))

    def hashed_record(self) -> dict[str, Any]:
        return {"seq": self.seq, "ts_ns": self.ts_ns, "ts_iso": self.ts_iso,
                "excursion_id": self.excursion_id, "kind": self.kind, "user": self.user,
                "data": self.data, "signature": self.signature}


def _event(row: tuple[Any, ...]) -> ReviewEvent:
    return ReviewEvent(int(row[0]), int(row[1]), str(row[2]), str(row[3]), str(row[4]),
                       str(row[5]), str(row[6]), row[7], str(row[8]), str(row[9]))


class ReviewLog:
    chain_name = "qa_review"

    def __init__(self, data_dir: str | Path, *, clock: Callable[[], int] = utc_now_ns) -> None:
        self.path = Path(data_dir) / DB_NAME
        self.head_file = HeadFile(Path(data_dir) / HEAD_NAME)
        self.clock = clock
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0,
                                         check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"{self.path}: cannot open the review log: {err}") from err

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ReviewLog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def append(self, excursion_id: str, kind: str, user: str, data: dict[str, Any], *,
               signature: dict[str, Any] | None = None,
               check: Callable[[list[ReviewEvent]], None] | None = None) -> ReviewEvent:
        """Append one event. ``check(events_so_far)`` runs inside the write transaction,
        so a state rule (e.g. "not closed yet") cannot race another writer."""
        data_text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
        sig_text = None if signature is None else json.dumps(signature, sort_keys=True,
                                                              ensure_ascii=False)
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    if check is not None:
                        check(self._for(excursion_id))
                    row = self._conn.execute(
                        "SELECT seq, hash FROM review_events ORDER BY seq DESC LIMIT 1"
                    ).fetchone()
                    seq, prev = (1, GENESIS) if row is None else (int(row[0]) + 1, str(row[1]))
                    ts = self.clock()
                    event = ReviewEvent(seq, ts, iso_utc(ts), excursion_id, kind, user,
                                        data_text, sig_text, prev, "")
                    digest = chain_hash(prev, event.hashed_record())
                    self._conn.execute(
                        f"INSERT INTO review_events ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (seq, ts, event.ts_iso, excursion_id, kind, user, data_text, sig_text,
                         prev, digest))
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: review event not written: {err}") from err
        self.head_file.write(ChainHead(self.chain_name, seq, digest, ts))
        return ReviewEvent(**{**event.__dict__, "hash": digest})

    def events(self, excursion_id: str | None = None) -> list[ReviewEvent]:
        with self._lock:
            if excursion_id is None:
                return [_event(r) for r in self._conn.execute(
                    f"SELECT {_COLUMNS} FROM review_events ORDER BY seq")]
            return self._for(excursion_id)

    def _for(self, excursion_id: str) -> list[ReviewEvent]:
        return [_event(r) for r in self._conn.execute(
            f"SELECT {_COLUMNS} FROM review_events WHERE excursion_id = ? ORDER BY seq",
            (excursion_id,))]

    def head(self) -> tuple[int, str]:
        with self._lock:
            row = self._conn.execute(
                "SELECT seq, hash FROM review_events ORDER BY seq DESC LIMIT 1").fetchone()
        return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))

    def current_head(self) -> ChainHead:
        seq, digest = self.head()
        return ChainHead(self.chain_name, seq, digest, self.clock())

    def publish_head(self) -> ChainHead:
        head = self.current_head()
        self.head_file.write(head)
        return head

    def verify(self) -> ChainProblem | None:
        with self._lock:
            try:
                cursor = self._conn.execute(f"SELECT {_COLUMNS} FROM review_events ORDER BY seq")
                problem = verify_chain(_rows(cursor))
            except sqlite3.Error as err:
                raise StoreError(f"{self.path}: cannot read the review log: {err}") from err
        if problem is not None:
            return problem
        seq, _ = self.head()

        def hash_at(n: int) -> str | None:
            with self._lock:
                row = self._conn.execute("SELECT hash FROM review_events WHERE seq = ?",
                                         (n,)).fetchone()
            return None if row is None else str(row[0])

        return check_against_head(self.head_file.read(), hash_at, seq, entries_exist=seq > 0)


def _rows(cursor: sqlite3.Cursor) -> Iterator[tuple[int, dict[str, Any], str, str]]:
    for row in cursor:
        event = _event(row)
        yield event.seq, event.hashed_record(), event.prev_hash, event.hash
