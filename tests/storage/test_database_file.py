"""A database file that is not ours or is damaged is refused, never deleted; a full disk
is survived with the readings kept in memory."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from monitor.errors import StoreError
from monitor.model import Quality, Reading, utc_now_ns
from monitor.storage.embedded import EmbeddedStore
from tests.storage.support import count_rows


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_foreign_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "readings.db"
    path.write_bytes(b"this is a spreadsheet, not a database\n" * 100)
    before = _digest(path)
    with pytest.raises(StoreError, match="not a SQLite database") as info:
        EmbeddedStore(path, {})
    assert str(path) in str(info.value)
    assert _digest(path) == before


def test_another_applications_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "readings.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
        conn.execute("INSERT INTO invoices (amount) VALUES (12.5)")
    before = _digest(path)
    with pytest.raises(StoreError, match="another application") as info:
        EmbeddedStore(path, {})
    assert str(path) in str(info.value)
    assert _digest(path) == before


async def test_a_damaged_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "readings.db"
    store = EmbeddedStore(path, {})
    now = utc_now_ns()
    store.append([Reading(f"d/c{i % 50}", float(i), Quality.GOOD, now + i) for i in range(20000)])
    await store.close()
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 20 * page
    for offset in range(8 * page, 12 * page, 7):  # scribble over a few pages of the tables
        data[offset] = (data[offset] + 0x5A) % 256
    path.write_bytes(bytes(data))
    before = _digest(path)
    with pytest.raises(StoreError, match="refusing to start") as info:
        EmbeddedStore(path, {})
    assert str(path) in str(info.value)
    assert _digest(path) == before


async def test_disk_full_keeps_readings_in_memory_raises_health_and_resumes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "readings.db"
    store = EmbeddedStore(path, {})
    now = utc_now_ns()
    store.append([Reading("d/a", 1.0, Quality.GOOD, now)])
    await store.flush()
    conn = store._conn  # fault injection: SQLite's own "database or disk is full" (SQLITE_FULL)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")

    store.append([Reading("d/a", float(i), Quality.GOOD, now + i) for i in range(1, 5001)])
    with pytest.raises(StoreError, match="full"):
        await store.flush()
    assert store.disk_problem is not None
    assert "disk full" in store.disk_problem
    assert store.pending == 5000
    assert any("disk full" in p for p in store.health())
    store.append([Reading("d/a", 2.0, Quality.GOOD, now + 6000)])  # still accepting
    assert store.pending == 5001

    conn.execute("PRAGMA max_page_count = 1073741823")  # space is back
    await store.flush()
    assert store.disk_problem is None
    assert store.health() == []
    await store.close()
    assert count_rows(path) == 5002
    assert store.dropped == 0
