"""The embedded store: buffering, commit, clean stop, bad values, gaps."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from monitor.model import Quality, Reading, utc_now_ns
from monitor.storage.embedded import EmbeddedStore


def _count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])


async def test_close_leaves_every_accepted_reading_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "readings.db"
    store = EmbeddedStore(path, {}, commit_interval=0.05)
    task = asyncio.create_task(store.run())
    now = utc_now_ns()
    for i in range(2000):
        store.append([Reading(f"dev/c{i % 7}", float(i), Quality.GOOD, now + i)])
        if i % 100 == 0:
            await asyncio.sleep(0)
    await store.close()
    task.cancel()
    assert _count(path) == 2000
    assert store.committed == 2000
    assert store.pending == 0


async def test_non_finite_values_are_stored_as_invalid_and_do_not_poison_the_batch(
    tmp_path: Path,
) -> None:
    path = tmp_path / "readings.db"
    store = EmbeddedStore(path, {})
    now = utc_now_ns()
    bad: object = "12.5"
    store.append(
        [
            Reading("dev/a", float("nan"), Quality.GOOD, now),
            Reading("dev/a", float("inf"), Quality.GOOD, now + 1),
            Reading("dev/a", bad, Quality.GOOD, now + 2),  # type: ignore[arg-type]
            Reading("dev/a", 1.5, Quality.GOOD, now + 3),
        ]
    )
    await store.close()
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT value, quality, detail FROM readings ORDER BY ts_ns").fetchall()
    assert [r[1] for r in rows] == ["invalid", "invalid", "invalid", "good"]
    assert rows[0][0] is None
    assert "nan" in rows[0][2]
    assert rows[2][0] is None
    assert "'12.5'" in rows[2][2]
    assert rows[3][0] == 1.5
    assert store.invalid == 3
