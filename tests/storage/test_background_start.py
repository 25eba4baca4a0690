"""The daemon's store starts in the background: the file's integrity check, the restart
gap and the series index come after the first readings were accepted, and nothing is
written to the file (nor forwarded from it) before the check passed."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path

import pytest

from monitor.errors import StoreError
from monitor.model import Quality, Reading, utc_now_ns
from monitor.storage import schema
from monitor.storage.embedded import EmbeddedStore


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def _filled(path: Path, n: int = 20000, channels: int = 50) -> int:
    """A cleanly closed readings file with ``n`` readings; returns the first timestamp."""
    store = EmbeddedStore(path, {})
    now = utc_now_ns()
    store.append([Reading(f"d/c{i % channels}", float(i), Quality.GOOD, now + i)
                  for i in range(n)])
    await store.close()
    return now


def _wal_size(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def _damage(path: Path) -> None:
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 20 * page
    for offset in range(8 * page, 12 * page, 7):  # scribble over a few pages of the tables
        data[offset] = (data[offset] + 0x5A) % 256
    path.write_bytes(bytes(data))


async def test_a_damaged_file_found_after_the_start_stops_the_store_and_is_left_untouched(
    tmp_path: Path,
) -> None:
    path = tmp_path / "readings.db"
    await _filled(path)
    _damage(path)
    before = _digest(path)
    store = EmbeddedStore(path, {}, background_start=True, commit_interval=0.05)
    store.append([Reading("d/c1", 1.0, Quality.GOOD, utc_now_ns())])  # accepted meanwhile
    with pytest.raises(StoreError, match="refusing to start") as info:
        await asyncio.wait_for(store.run(), 30)
    assert str(path) in str(info.value)
    with pytest.raises(StoreError, match="damaged"):
        await store.close()
    assert _digest(path) == before
    assert _wal_size(path) == 0


async def test_readings_accepted_during_the_start_are_committed_under_their_series(
    tmp_path: Path,
) -> None:
    path = tmp_path / "readings.db"
    first = await _filled(path, n=500, channels=5)
    store = EmbeddedStore(path, {}, background_start=True, commit_interval=0.05)
    now = utc_now_ns()
    # before the series index is loaded or after: the same series either way
    store.append([Reading(f"d/c{i % 7}", float(i), Quality.GOOD, now + i) for i in range(70)])
    task = asyncio.create_task(store.run())
    await asyncio.sleep(0.2)
    store.append([Reading(f"d/c{i % 7}", float(i), Quality.GOOD, now + 100 + i)
                  for i in range(70)])
    await store.close()
    task.cancel()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 640
        assert conn.execute("SELECT count(*) FROM series").fetchone()[0] == 7
        per_series = dict(conn.execute(
            "SELECT s.channel, count(*) FROM readings r JOIN series s ON s.id = r.series "
            "GROUP BY s.channel"
        ).fetchall())
        assert per_series == {**{f"d/c{i}": 120 for i in range(5)}, "d/c5": 20, "d/c6": 20}
        assert conn.execute("SELECT min(ts_ns) FROM readings").fetchone()[0] == first


async def test_the_restart_gap_is_recorded_by_the_background_start(tmp_path: Path) -> None:
    path = tmp_path / "readings.db"
    store = EmbeddedStore(path, {})
    store.append([Reading("d/a", 1.0, Quality.GOOD, utc_now_ns())])
    await store.flush()
    store._conn.close()  # no clean-stop mark: a crash
    restarted = EmbeddedStore(path, {}, background_start=True)
    task = asyncio.create_task(restarted.run())
    await asyncio.sleep(0)
    await restarted.close()
    task.cancel()
    with sqlite3.connect(path) as conn:
        causes = [r[0] for r in conn.execute("SELECT cause FROM gaps WHERE scope = 'daemon'")]
    assert causes == ["daemon_crashed"]


def test_the_check_is_owed_only_for_a_file_already_in_the_current_schema(
    tmp_path: Path,
) -> None:
    path = tmp_path / "readings.db"
    conn, owed = schema.open_database_deferred(path)
    conn.close()
    assert not owed  # a new file: nothing to check
    conn, owed = schema.open_database_deferred(path)
    conn.close()
    assert owed
    with sqlite3.connect(path) as old:  # an older file is checked before it is migrated
        old.execute("PRAGMA user_version=1")
    conn, owed = schema.open_database_deferred(path)
    conn.close()
    assert not owed
    conn, owed = schema.open_database_deferred(path, check=False)
    conn.close()
    assert not owed


def test_opening_a_current_file_for_a_deferred_check_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "readings.db"
    schema.open_database(path).close()
    before = _digest(path)
    conn, owed = schema.open_database_deferred(path)
    conn.close()
    assert owed
    assert _digest(path) == before


async def test_with_a_sink_the_daemon_waits_for_the_check_before_the_outbox_writes(
    tmp_path: Path,
) -> None:
    """A sink's outbox records its starting cursor in the file when it is made: with a sink
    configured the check is waited for first, and a damaged file refused untouched."""
    from monitor.config import load_config
    from monitor.storage.factory import build_stores
    from tests.storage.test_factory import SINKS
    from tests.storage.test_query_cli import CONFIG

    config = tmp_path / "cleanroom-monitor.yaml"
    config.write_text(CONFIG.format(data_dir=tmp_path / "data")
                      + SINKS.format(url="http://127.0.0.1:9"))
    path = tmp_path / "data" / "readings.db"
    path.parent.mkdir()
    await _filled(path)
    _damage(path)
    before = _digest(path)
    loaded = load_config(config)
    with pytest.raises(StoreError, match="refusing to start"):
        build_stores(loaded)
    assert _digest(path) == before
    assert _wal_size(path) == 0
