"""Logs written before ``ChainedTable`` still verify, read back and extend identically.

``samples/`` holds an audit trail, a review log and an alarm event log written
by the pre-``ChainedTable`` writers (``samples/generate.py``, commit 0ac401d).
The hashes are recomputed here with a frozen copy of the hashing those writers
used, so that a change to ``monitor.integrity`` cannot move both sides at once.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.alarms.eventlog import EventLog
from monitor.alarms.events import AlarmEvent, AlarmState, EventKind, Level, Mode
from monitor.audit import AuditTrail
from monitor.qa.reviewlog import ReviewLog

from .samples import generate

SAMPLES = Path(__file__).parent / "samples"
FILES = ("audit.db", "audit.head", "qa.db", "qa.head", "alarms.db", "alarms.head")


def frozen_chain_hash(prev_hash: str, record: dict[str, Any]) -> str:
    """SHA-256(prev_hash + "\\n" + canonical JSON), exactly as first written (do not edit)."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                           default=str).encode()
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical).hexdigest()


def audit_record(row: sqlite3.Row) -> dict[str, Any]:
    return {"seq": row["seq"], "ts_ns": row["ts_ns"], "ts_iso": row["ts_iso"],
            "user": row["user"], "action": row["action"], "object": row["object"],
            "old": row["old_value"], "new": row["new_value"], "reason": row["reason"]}


def review_record(row: sqlite3.Row) -> dict[str, Any]:
    return {k: row[k] for k in ("seq", "ts_ns", "ts_iso", "excursion_id", "kind", "user", "data",
                                "signature")}


def event_record(row: sqlite3.Row) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(row["record"])
    return record


CHAINS: dict[str, tuple[str, str, Callable[[sqlite3.Row], dict[str, Any]]]] = {
    "audit": ("audit.db", "audit", audit_record),
    "qa_review": ("qa.db", "review_events", review_record),
    "alarm_events": ("alarms.db", "events", event_record),
}


def frozen_head(data_dir: Path, chain: str) -> tuple[int, str]:
    """Recompute a chain with the frozen hash; every stored link and hash must agree."""
    db, table, record = CHAINS[chain]
    conn = sqlite3.connect(f"file:{data_dir / db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    prev, seq = "0" * 64, 0
    for row in conn.execute(f"SELECT * FROM {table} ORDER BY seq"):
        seq += 1
        assert row["seq"] == seq
        assert row["prev_hash"] == prev
        assert row["hash"] == frozen_chain_hash(prev, record(row)), f"{chain} entry {seq}"
        prev = row["hash"]
    conn.close()
    return seq, prev


def stored_rows(data_dir: Path, chain: str) -> list[tuple[Any, ...]]:
    db, table, _ = CHAINS[chain]
    conn = sqlite3.connect(f"file:{data_dir / db}?mode=ro", uri=True)
    try:
        return conn.execute(f"SELECT * FROM {table} ORDER BY seq").fetchall()
    finally:
        conn.close()


def schema(path: Path) -> list[tuple[str, str, str]]:
    """Tables, indexes and triggers with their SQL (the append-only triggers among them)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return sorted(conn.execute("SELECT type, name, sql FROM sqlite_master"))
    finally:
        conn.close()


@pytest.fixture
def old(tmp_path: Path) -> Path:
    """A copy of the samples: opening a log, even read-only, leaves -wal and -shm files
    beside it; the committed ones are never opened."""
    for name in FILES:
        shutil.copyfile(SAMPLES / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def logs(old: Path) -> Iterator[tuple[AuditTrail, ReviewLog, EventLog]]:
    trail, review, events = AuditTrail(old), ReviewLog(old), EventLog(old)
    yield trail, review, events
    for log in (trail, review, events):
        log.close()


def test_the_samples_are_what_the_frozen_hash_says(old: Path) -> None:
    heads = {c: frozen_head(old, c) for c in CHAINS}
    assert heads["audit"][0] == 5
    assert heads["qa_review"][0] == 4
    assert heads["alarm_events"][0] == 5
    for chain, (db, _, _) in CHAINS.items():
        head = json.loads((old / db.replace(".db", ".head")).read_text())
        assert (head["chain"], head["seq"], head["hash"]) == (chain, *heads[chain])


def test_old_files_verify_and_read_back(
    logs: tuple[AuditTrail, ReviewLog, EventLog], old: Path,
) -> None:
    trail, review, events = logs
    for log in logs:
        assert log.verify() is None
        assert log.head() == frozen_head(old, log.chain_name)
        assert log.current_head().chain == log.chain_name
    entries = trail.entries()
    assert [e.action for e in entries] == ["config.loaded", "user.created", "user.login_failed",
                                           "limits.changed", "alarm.acknowledged"]
    assert entries[1].new_value == {"roles": ["qa"], "name": "Jöhn Dœ"}
    assert entries[3].old_value == 3520
    assert trail.get(5) == entries[4]
    assert [e.kind for e in review.events("1")] == ["review_started", "updated", "commented",
                                                    "closed"]
    assert review.events()[3].signature_dict == {"user": "qa1", "meaning": "approved",
                                                 "seal": "cd" * 32}
    back = events.events()
    assert [e.seq for e in back] == [1, 2, 3, 4, 5]
    assert back[1].value == 31.25
    assert events.raise_hash(1) == stored_rows(old, "alarm_events")[0][-1]


def test_the_read_only_event_log_verifies_an_old_file(old: Path) -> None:
    ro = EventLog(old, readonly=True)
    try:
        assert ro.verify() is None
    finally:
        ro.close()


def test_appending_to_old_files_continues_their_chains(
    logs: tuple[AuditTrail, ReviewLog, EventLog], old: Path,
) -> None:
    trail, review, events = logs
    trail.record("qa1", "report.generated", "report:r1", new={"sha256": "ef" * 32})
    review.append("2", "review_started", "qa1", {})
    events.append([AlarmEvent(seq=6, id="n-6", ts_ns=generate.T0 + 6, kind=EventKind.RAISED,
                              alarm_id=3, point="fill-1/dp1/dp:low_action", location="fill-1",
                              channel="fill-1/dp1/dp", rule="low_action", level=Level.ACTION,
                              priority="high", state=AlarmState.ACTIVE_UNACK,
                              prev_state=AlarmState.NORMAL, mode=Mode.IN_SERVICE, value=8.0,
                              limit=10.0, location_state="in_operation", details={})])
    for log, seq in ((trail, 6), (review, 5), (events, 6)):
        assert log.verify() is None
        assert frozen_head(old, log.chain_name) == log.head()
        assert log.head()[0] == seq
        head = log.head_file.read()
        assert head is not None
        assert (head.seq, head.hash) == log.head()


def test_the_same_writes_give_the_same_rows_byte_for_byte(
    old: Path, tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The sample writes replayed with today's writers: every stored value, hashes included."""
    new = tmp_path_factory.mktemp("replayed")
    generate.main(new)
    for chain, (db, _, _) in CHAINS.items():
        assert stored_rows(new, chain) == stored_rows(old, chain), chain
        assert schema(new / db) == schema(old / db), db
    for name in ("audit.head", "qa.head"):  # stamped with the entry's (fake) time
        assert (new / name).read_text() == (old / name).read_text()
    alarms_head = json.loads((new / "alarms.head").read_text())
    assert (alarms_head["seq"], alarms_head["hash"]) == frozen_head(old, "alarm_events")
