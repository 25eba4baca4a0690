"""The excursion review log: ``<data_dir>/qa.db``, append-only and hash-chained.

A review is never edited: a changed root cause is a new event that
supersedes the old one, so an inspector sees what QA first thought, what
they later concluded, who wrote each and when. The current state of a review
is the fold of its events (``workflow.ReviewState``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.audit.timefmt import iso_utc
from monitor.integrity import ChainedLog, ChainedTable, ChainSpec, Row
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
"""

_COLUMNS = ("seq", "ts_ns", "ts_iso", "excursion_id", "kind", "user", "data", "signature")


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


def _event(row: Row) -> ReviewEvent:
    return ReviewEvent(int(row[0]), int(row[1]), str(row[2]), str(row[3]), str(row[4]),
                       str(row[5]), str(row[6]), row[7], str(row[8]), str(row[9]))


def _record(values: Row) -> dict[str, Any]:
    return _event((*values, "", "")).hashed_record()


SPEC = ChainSpec(chain="qa_review", table="review_events", columns=_COLUMNS, record=_record,
                 noun="the review log", entry="review event")


class ReviewLog(ChainedLog):
    """``qa.db`` and ``qa.head``; ``head``, ``publish_head`` and ``verify`` come from
    ``ChainedLog``."""

    chain_name = SPEC.chain

    def __init__(self, data_dir: str | Path, *, clock: Callable[[], int] = utc_now_ns) -> None:
        self.path = Path(data_dir) / DB_NAME
        self.clock = clock
        self.table = ChainedTable(self.path, SPEC, head_path=Path(data_dir) / HEAD_NAME,
                                  schema=_SCHEMA, clock=clock)

    def append(self, excursion_id: str, kind: str, user: str, data: dict[str, Any], *,
               signature: dict[str, Any] | None = None,
               check: Callable[[list[ReviewEvent]], None] | None = None) -> ReviewEvent:
        """Append one event. ``check(events_so_far)`` runs inside the write transaction,
        so a state rule (e.g. "not closed yet") cannot race another writer."""
        data_text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
        sig_text = None if signature is None else json.dumps(signature, sort_keys=True,
                                                              ensure_ascii=False)

        def row(seq: int) -> list[Row]:
            if check is not None:
                check(self._for(excursion_id))
            ts = self.clock()
            return [(seq, ts, iso_utc(ts), excursion_id, kind, user, data_text, sig_text)]

        return _event(self.table.append(row)[0])

    def events(self, excursion_id: str | None = None) -> list[ReviewEvent]:
        if excursion_id is None:
            return [_event(r) for r in self.table.select()]
        return [_event(r) for r in self.table.select("excursion_id = ?", (excursion_id,))]

    def _for(self, excursion_id: str) -> list[ReviewEvent]:
        """Inside ``append``'s transaction (the lock is held)."""
        return [_event(r) for r in self.table.conn.execute(
            f"SELECT {', '.join((*_COLUMNS, 'prev_hash', 'hash'))} FROM review_events "
            "WHERE excursion_id = ? ORDER BY seq", (excursion_id,))]
