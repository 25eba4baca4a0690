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


def _indexes(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'readings'"
        )}


def _version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT * FROM readings ORDER BY id").fetchall()


@pytest.mark.parametrize(("version", "old_index", "old_sql"), [
    (1, "readings_series_ts", "CREATE INDEX readings_series_ts ON readings (series, ts_ns)"),
    (2, "readings_bucket",
     "CREATE INDEX readings_bucket ON readings (ts_ns / 10000000000, series)"),
])
async def test_an_older_file_gets_the_bucket_index_with_every_reading_unchanged(
    tmp_path: Path, version: int, old_index: str, old_sql: str,
) -> None:
    """Schema 1 indexed readings by (series, ts_ns), an early schema 2 build by 10-second
    buckets; opening such a file rebuilds the index and nothing else: the same rows, byte
    for byte, then readings are added after them."""
    from monitor.storage.history import History

    path = tmp_path / "readings.db"
    now = utc_now_ns()
    store = EmbeddedStore(path, {})
    store.append([Reading(f"dev/c{i % 3}", float(i), Quality.GOOD, now + i * 10**9)
                  for i in range(40)])
    store.append([Reading("dev/c0", None, Quality.COMM_ERROR, now + 41 * 10**9,
                          detail="timeout")])
    await store.close()
    with sqlite3.connect(path) as conn:  # the layout the older version wrote
        conn.execute("DROP INDEX readings_bucket")
        conn.execute(old_sql)
        conn.execute(f"PRAGMA user_version={version}")
    before = _rows(path)
    assert _indexes(path) == {old_index}
    with History(tmp_path) as history:  # a reader never migrates: it queries the old index
        old_samples = history.query("dev/c1", None, now, now + 60 * 10**9).samples
        old_latest = history.latest()
    assert [s.value for s in old_samples] == [float(i) for i in range(1, 40, 3)]
    assert [(s.channel, s.value, s.quality) for s in old_latest] == [
        ("dev/c0", None, "comm_error"), ("dev/c1", 37.0, "good"), ("dev/c2", 38.0, "good")
    ]
    assert _rows(path) == before
    assert _version(path) == version

    reopened = EmbeddedStore(path, {})
    assert _version(path) == 2
    assert _indexes(path) == {"readings_bucket"}
    with sqlite3.connect(path) as conn:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'readings_bucket'")
        assert "(ts_ns / 5000000000, series)" in sql.fetchone()[0]
    assert _rows(path) == before
    reopened.append([Reading("dev/c1", 7.0, Quality.GOOD, now + 50 * 10**9)])
    await reopened.close()
    assert _rows(path)[: len(before)] == before
    with History(tmp_path) as history:
        samples = history.query("dev/c1", None, now, now + 60 * 10**9).samples
        assert [s.value for s in samples] == [float(i) for i in range(1, 40, 3)] + [7.0]


def test_a_file_of_a_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "readings.db"
    EmbeddedStore(path, {})._conn.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version=3")
    before = _digest(path)
    with pytest.raises(StoreError, match="schema version 3 is newer"):
        EmbeddedStore(path, {})
    assert _digest(path) == before
