"""The audit trail records what it is given, refuses in-place changes, and exports faithfully."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from monitor.audit import Action, AuditTrail, iso_utc, parse_utc_ns
from monitor.audit.export import write_csv, write_json
from monitor.errors import MonitorError, StoreError
from monitor.integrity import GENESIS, chain_hash


class FakeClock:
    def __init__(self, start_ns: int = 1_700_000_000_000_000_000) -> None:
        self.now = start_ns

    def __call__(self) -> int:
        self.now += 1_000_000_000
        return self.now


@pytest.fixture
def trail(tmp_path: Path) -> AuditTrail:
    return AuditTrail(tmp_path, clock=FakeClock())


def test_entries_carry_every_field_and_chain(trail: AuditTrail) -> None:
    first = trail.record("alice", Action.ALARM_ACKNOWLEDGED, "alarm:cr1/pc1/p05",
                         old={"state": "unack"}, new={"state": "ack"}, reason="door opened")
    second = trail.record("bob", Action.LIMITS_CHANGED, "limits:cr1", old=3520, new=3000)
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS
    assert second.prev_hash == first.hash
    assert first.hash == chain_hash(GENESIS, first.hashed_record())
    assert first.ts_iso == iso_utc(first.ts_ns)
    assert first.ts_iso.endswith("Z")
    assert first.old_value == {"state": "unack"}
    assert first.new_value == {"state": "ack"}
    assert first.reason == "door opened"
    stored = trail.get(1)
    assert stored == first
    assert trail.head() == (2, second.hash)
    assert trail.verify() is None


def test_update_and_delete_are_refused_by_sqlite(trail: AuditTrail, tmp_path: Path) -> None:
    trail.record("alice", "x.y", "obj")
    conn = sqlite3.connect(tmp_path / "audit.db")
    with pytest.raises(sqlite3.DatabaseError, match="append-only: UPDATE refused"):
        conn.execute("UPDATE audit SET user = 'mallory'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only: DELETE refused"):
        conn.execute("DELETE FROM audit")
    conn.close()
    assert trail.verify() is None


def test_entry_needs_user_action_and_object(trail: AuditTrail) -> None:
    with pytest.raises(StoreError):
        trail.record("", "x", "y")


def test_two_writers_share_one_chain(tmp_path: Path) -> None:
    """The daemon and a CLI command append to the same file without forking the chain."""
    a, b = AuditTrail(tmp_path), AuditTrail(tmp_path)
    for i in range(20):
        (a if i % 2 else b).record("u", "t.x", f"o{i}")
    assert a.head()[0] == 20
    assert b.verify() is None
    assert [e.object for e in a.entries()] == [f"o{i}" for i in range(20)]


def test_filters(trail: AuditTrail) -> None:
    for i in range(6):
        trail.record("alice" if i % 2 else "bob", "a.b" if i < 3 else "c.d", f"thing:{i}")
    entries = trail.entries()
    assert len(entries) == 6
    assert [e.seq for e in trail.entries(user="alice")] == [2, 4, 6]
    assert [e.seq for e in trail.entries(action="c.d")] == [4, 5, 6]
    assert [e.seq for e in trail.entries(object_prefix="thing:1")] == [2]
    t3 = entries[2].ts_ns
    assert [e.seq for e in trail.entries(from_ns=t3, to_ns=entries[4].ts_ns)] == [3, 4]
    assert [e.seq for e in trail.entries(after_seq=4, limit=1)] == [5]


def test_csv_and_json_export_round_trip(trail: AuditTrail) -> None:
    trail.record("alice", "a.b", "o1", old=None, new={"k": "v, with \"quotes\"\nand newline"})
    trail.record("bob", "a.c", "o2", reason="ü and, commas")
    out = io.StringIO()
    write_csv(trail.entries(), out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["user"] for r in rows] == ["alice", "bob"]
    assert json.loads(rows[0]["new"]) == {"k": "v, with \"quotes\"\nand newline"}
    assert rows[1]["reason"] == "ü and, commas"
    assert rows[1]["old"] == ""
    assert rows[1]["hash"] == trail.head()[1]
    out = io.StringIO()
    write_json(trail.entries(), out, head=trail.head(), problem=None, exported_by="qa1",
               exported_ns=1_800_000_000_000_000_000)
    doc = json.loads(out.getvalue())
    assert doc["verification"] == "ok"
    assert doc["head"]["seq"] == 2
    assert doc["entries"][0]["new"]["k"].startswith("v, with")


def test_time_parsing() -> None:
    assert parse_utc_ns("1970-01-02") == 86400 * 10**9
    assert parse_utc_ns("1970-01-01T01:00:00Z") == 3600 * 10**9
    assert parse_utc_ns("1970-01-01T02:00:00+01:00") == 3600 * 10**9
    assert parse_utc_ns("1970-01-01T01:00:00") == 3600 * 10**9
    with pytest.raises(MonitorError, match="not an ISO 8601"):
        parse_utc_ns("yesterday")


def test_unwritable_data_dir_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open the audit trail"):
        AuditTrail(blocker / "sub")
