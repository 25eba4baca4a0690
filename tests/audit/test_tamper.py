"""Changes made to audit.db behind SQLite's triggers are caught by ``verify``.

Each test builds a clean trail, tampers with the file the way someone with
file access could (dropping the triggers, or editing the schema itself with
``PRAGMA writable_schema``), and checks that verification names the first
entry affected.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.audit import AuditTrail
from monitor.audit.trail import AuditEntry
from monitor.integrity import chain_hash

ENTRIES = 8


@pytest.fixture
def trail(tmp_path: Path) -> Iterator[AuditTrail]:
    t = AuditTrail(tmp_path)
    for i in range(ENTRIES):
        t.record(f"user{i % 3}", "limits.changed", f"limit:{i}", old=i, new=i + 1,
                 reason=f"change {i}")
    assert t.verify() is None
    yield t
    t.close()


def raw(trail: AuditTrail) -> sqlite3.Connection:
    """A connection with the append-only triggers removed, as a tamperer would do it."""
    conn = sqlite3.connect(trail.path, isolation_level=None)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")
    return conn


def test_edited_value_is_caught(trail: AuditTrail) -> None:
    with raw(trail) as conn:
        conn.execute("UPDATE audit SET new_value = '999' WHERE seq = 4")
    problem = trail.verify()
    assert problem is not None
    assert problem.seq == 4
    assert "altered" in problem.message


@pytest.mark.parametrize("column", ["user", "reason", "ts_ns", "object", "action"])
def test_every_column_is_covered_by_the_hash(trail: AuditTrail, column: str) -> None:
    value = "12345" if column == "ts_ns" else "'mallory'"
    with raw(trail) as conn:
        conn.execute(f"UPDATE audit SET {column} = {value} WHERE seq = 6")
    problem = trail.verify()
    assert problem is not None
    assert problem.seq == 6


def test_edit_via_writable_schema_is_caught(trail: AuditTrail) -> None:
    """Removing the triggers from sqlite_master directly (no DROP TRIGGER)."""
    conn = sqlite3.connect(trail.path, isolation_level=None)
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("DELETE FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'")
    conn.execute("PRAGMA writable_schema = OFF")
    conn.close()
    conn = sqlite3.connect(trail.path, isolation_level=None)
    conn.execute("UPDATE audit SET reason = 'nothing happened' WHERE seq = 2")
    conn.close()
    problem = trail.verify()
    assert problem is not None
    assert problem.seq == 2


def test_edit_with_recomputed_hash_is_caught_at_the_next_entry(trail: AuditTrail) -> None:
    """A tamperer who recomputes the edited entry's hash breaks the link of the next one."""
    entry = trail.get(3)
    assert entry is not None
    forged = AuditEntry(**{**entry.__dict__, "new": "1000"})
    digest = chain_hash(forged.prev_hash, forged.hashed_record())
    with raw(trail) as conn:
        conn.execute("UPDATE audit SET new_value = '1000', hash = ? WHERE seq = 3", (digest,))
    problem = trail.verify()
    assert problem is not None
    assert problem.seq == 4
    assert "link" in problem.message


def test_deleted_entry_is_caught(trail: AuditTrail) -> None:
    with raw(trail) as conn:
        conn.execute("DELETE FROM audit WHERE seq = 5")
    problem = trail.verify()
    assert problem is not None
    assert problem.seq == 5
    assert "missing" in problem.message


def test_deleted_entry_with_renumbering_is_caught(trail: AuditTrail) -> None:
    with raw(trail) as conn:
        conn.execute("DELETE FROM audit WHERE seq = 5")
        for seq in range(6, ENTRIES + 1):
            conn.execute("UPDATE audit SET seq = ? WHERE seq = ?", (seq - 1, seq))
    problem = trail.verify()
    assert problem is not None
    assert problem.seq == 5


def test_inserted_entry_is_caught(trail: AuditTrail) -> None:
    """An entry slipped in between 3 and 4, correctly hashed onto 3, with the rest renumbered."""
    before = trail.get(3)
    assert before is not None
    with raw(trail) as conn:
        for seq in range(ENTRIES, 3, -1):
            conn.execute("UPDATE audit SET seq = ? WHERE seq = ?", (seq + 1, seq))
        record = {"seq": 4, "ts_ns": before.ts_ns + 1, "ts_iso": before.ts_iso, "user": "qa1",
                  "action": "excursion.closed", "object": "excursion:7", "old": None,
                  "new": None, "reason": "backdated"}
        digest = chain_hash(before.hash, record)
        conn.execute(
            "INSERT INTO audit VALUES (4, ?, ?, 'qa1', 'excursion.closed', 'excursion:7', "
            "NULL, NULL, 'backdated', ?, ?)",
            (before.ts_ns + 1, before.ts_iso, before.hash, digest))
    problem = trail.verify()
    assert problem is not None
    assert problem.seq == 5  # the old entry 4 no longer links to its predecessor
    assert "link" in problem.message


def test_inserted_row_with_garbage_hash_is_caught(trail: AuditTrail) -> None:
    with raw(trail) as conn:
        conn.execute("INSERT INTO audit VALUES (?, 1, 'x', 'u', 'a', 'o', NULL, NULL, NULL, ?, ?)",
                     (ENTRIES + 1, trail.head()[1], "f" * 64))
    problem = trail.verify()
    assert problem is not None
    assert problem.seq == ENTRIES + 1


def test_swapped_entries_are_caught(trail: AuditTrail) -> None:
    with raw(trail) as conn:
        conn.execute("UPDATE audit SET seq = 100 WHERE seq = 2")
        conn.execute("UPDATE audit SET seq = 2 WHERE seq = 3")
        conn.execute("UPDATE audit SET seq = 3 WHERE seq = 100")
    problem = trail.verify()
    assert problem is not None
    assert problem.seq == 2


def test_truncated_tail_is_caught_by_the_head_file(trail: AuditTrail) -> None:
    with raw(trail) as conn:
        conn.execute("DELETE FROM audit WHERE seq > 6")
    problem = trail.verify()
    assert problem is not None
    assert problem.seq == 7
    assert f"published head is entry {ENTRIES}" in problem.message


def test_emptied_database_is_caught(trail: AuditTrail) -> None:
    with raw(trail) as conn:
        conn.execute("DELETE FROM audit")
    problem = trail.verify()
    assert problem is not None
    assert "database ends at entry 0" in problem.message


def test_replaced_database_file_is_caught(trail: AuditTrail, tmp_path: Path) -> None:
    """The file deleted and a fresh one started: the head file still remembers."""
    trail.close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(trail.path) + suffix).unlink(missing_ok=True)
    fresh = AuditTrail(tmp_path)
    fresh.record("mallory", "x.y", "z")
    problem = fresh.verify()
    assert problem is not None
    assert "truncated or replaced" in problem.message
    fresh.close()


def test_older_copy_restored_is_caught(tmp_path: Path) -> None:
    live = tmp_path / "live"
    t = AuditTrail(live)
    t.record("a", "x.y", "o1")
    t.close()
    backup = tmp_path / "backup.db"
    shutil.copy(live / "audit.db", backup)
    t = AuditTrail(live)
    t.record("a", "x.y", "o2")
    t.record("a", "x.y", "o3")
    t.close()
    for suffix in ("-wal", "-shm"):
        Path(str(live / "audit.db") + suffix).unlink(missing_ok=True)
    shutil.copy(backup, live / "audit.db")
    t = AuditTrail(live)
    problem = t.verify()
    assert problem is not None
    assert problem.seq == 2
    t.close()


def test_whole_chain_rewritten_is_caught_by_the_head_file(trail: AuditTrail) -> None:
    """Editing entry 2 and recomputing every hash after it leaves a valid chain, but not
    the published head."""
    entries = trail.entries()
    with raw(trail) as conn:
        prev = entries[0].hash
        for entry in entries[1:]:
            new = "777" if entry.seq == 2 else entry.new
            record = {**entry.hashed_record(), "new": new}
            digest = chain_hash(prev, record)
            conn.execute("UPDATE audit SET new_value = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                         (new, prev, digest, entry.seq))
            prev = digest
    problem = trail.verify()
    assert problem is not None
    assert problem.seq == ENTRIES
    assert "rewritten" in problem.message


def test_missing_head_file_is_reported(trail: AuditTrail) -> None:
    trail.head_file.path.unlink()
    problem = trail.verify()
    assert problem is not None
    assert "head file is missing" in problem.message
    trail.publish_head()
    assert trail.verify() is None
