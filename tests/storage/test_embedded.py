"""The embedded store: buffering, commit, clean stop, bad values, gaps."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from monitor.errors import StoreError
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


def _stored(path: Path) -> list[tuple[str, float, str | None]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT s.channel, r.value, r.state FROM readings r JOIN series s ON s.id = r.series "
            "ORDER BY r.id"
        ).fetchall()


async def test_readings_of_a_new_series_find_it_while_and_after_it_is_committed(
    tmp_path: Path,
) -> None:
    """A channel's first readings name the channel until a commit inserts its series and
    routes it; readings appended during that commit, and batches of every size around the
    multi-row insert, land under the right series, once each; a restarted store finds the
    series in the file."""
    path = tmp_path / "readings.db"
    now = utc_now_ns()
    expected: list[tuple[str, float, str | None]] = []

    def add(store: EmbeddedStore, channel: str, count: int) -> None:
        batch = [Reading(channel, float(len(expected) + i), Quality.GOOD, now + len(expected) + i)
                 for i in range(count)]
        store.append(batch)
        expected.extend((channel, float(r.value or 0), "in_operation") for r in batch)

    store = EmbeddedStore(path, {}, state_of=lambda location: "in_operation")
    add(store, "dev/a", 3)
    flushing = asyncio.create_task(store.flush())
    await asyncio.sleep(0)  # the commit thread has the first batch
    add(store, "dev/a", 250 * 2 + 7)  # two full multi-row statements and a remainder
    add(store, "dev/b", 1)
    await flushing
    await store.flush()
    add(store, "dev/a", 250)
    assert list(store._route) == ["dev/a", "dev/b"]  # routed by the commits that inserted them
    add(store, "dev/c", 251)
    assert "dev/c" not in store._route  # until its series is committed
    assert store._buffer[-8] == "dev/c"  # its rows name the channel meanwhile
    await store.flush()
    assert list(store._route) == ["dev/a", "dev/b", "dev/c"]
    add(store, "dev/b", 1)
    add(store, "dev/c", 1)
    assert store._series == {}  # routed series are not kept by key
    await store.close()
    assert _stored(path) == expected
    with sqlite3.connect(path) as conn:
        series = conn.execute("SELECT channel FROM series ORDER BY id").fetchall()
    assert series == [("dev/a",), ("dev/b",), ("dev/c",)]

    reopened = EmbeddedStore(path, {}, state_of=lambda location: "in_operation")
    assert len(reopened._series) == 3
    add(reopened, "dev/b", 2)
    add(reopened, "dev/d", 1)
    assert len(reopened._series) == 2  # dev/b routed
    flushing = asyncio.create_task(reopened.flush())
    await asyncio.sleep(0)
    add(reopened, "dev/d", 1)  # by channel again, while the commit inserts its series
    await flushing
    add(reopened, "dev/d", 1)  # routed by that commit; the next commit still has one row
    assert "dev/d" in reopened._route
    await reopened.close()
    assert _stored(path) == expected
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM series").fetchone()[0] == 4


def _info(channel: str, location: str) -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(id=channel, device=channel.partition("/")[0], location=location,
                           room="r", grade="B", spec=SimpleNamespace(unit="Pa"), site="s")


async def test_a_restart_routes_the_configured_channels_from_the_series_table(
    tmp_path: Path,
) -> None:
    """Series whose tags are their channel's config are routed when the file is opened; a
    channel whose tags changed (moved to another location) gets a new series."""
    path = tmp_path / "readings.db"
    now = utc_now_ns()
    channels = {"a/x": _info("a/x", "fill"), "a/y": _info("a/y", "fill")}
    store = EmbeddedStore(path, channels)
    store.append([Reading(c, 1.0, Quality.GOOD, now) for c in channels])
    await store.close()
    moved = {**channels, "a/y": _info("a/y", "airlock")}
    store = EmbeddedStore(path, moved)
    assert store._route == {"a/x": 1}
    assert store._locations[1] is moved["a/x"].location  # the config's string
    assert list(store._series) == [("a/y", "a", "fill", "r", "B", "Pa", "s")]
    store.append([Reading(c, 2.0, Quality.GOOD, now + 1) for c in moved])
    await store.close()
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT s.channel, s.location, r.value FROM readings r "
                            "JOIN series s ON s.id = r.series ORDER BY r.id").fetchall()
    assert rows == [("a/x", "fill", 1.0), ("a/y", "fill", 1.0),
                    ("a/x", "fill", 2.0), ("a/y", "airlock", 2.0)]


async def test_each_reading_gets_its_own_locations_state(tmp_path: Path) -> None:
    """The state is asked once per run of readings at one location, never carried to another."""
    from types import SimpleNamespace

    def info(channel: str, location: str) -> Any:
        return SimpleNamespace(id=channel, device=channel.partition("/")[0], location=location,
                               room="r", grade="B", spec=SimpleNamespace(unit="Pa"), site="s")

    channels = {"a/x": info("a/x", "fill"), "a/y": info("a/y", "fill"),
                "b/x": info("b/x", "airlock")}
    states = {"fill": "in_operation", "airlock": "at_rest"}
    asked: list[str] = []

    def state_of(location: str) -> str:
        asked.append(location)
        return states[location]

    path = tmp_path / "readings.db"
    store = EmbeddedStore(path, channels, state_of=state_of)
    now = utc_now_ns()
    order = ["a/x", "a/y", "b/x", "a/x", "a/y"]
    store.append([Reading(c, float(i), Quality.GOOD, now + i) for i, c in enumerate(order)])
    states["fill"] = "at_rest"
    store.append([Reading("a/x", 9.0, Quality.GOOD, now + 9)])
    await store.close()
    assert [(c, s) for c, _, s in _stored(path)] == [
        ("a/x", "in_operation"), ("a/y", "in_operation"), ("b/x", "at_rest"),
        ("a/x", "in_operation"), ("a/y", "in_operation"), ("a/x", "at_rest"),
    ]
    assert asked == ["fill", "airlock", "fill", "fill"]


async def test_missing_values_are_stored_as_null_never_as_a_number(tmp_path: Path) -> None:
    """Buffered rows carry a NaN for a NULL column (it binds ~7x faster than None); what
    reaches the file is NULL in every such column, and a value is never lost or invented."""
    from monitor.storage import gaps as gapmod

    path = tmp_path / "readings.db"
    store = EmbeddedStore(path, {})  # no state_of: state is NULL
    now = utc_now_ns()
    store.append([
        Reading("dev/a", 1.5, Quality.GOOD, now, 15.0),
        Reading("dev/a", None, Quality.COMM_ERROR, now + 1),  # no detail: the gap has none
        Reading("dev/b", None, Quality.COMM_ERROR, now + 2, None, None, "timeout"),
        Reading("dev/a", 2.5, Quality.GOOD, now + 3, None, now - 5, "late"),
        Reading("dev/b", 0.0, Quality.GOOD, now + 4, 0.0, 0, None),
    ])
    await store.close()
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT typeof(value), typeof(raw), quality, typeof(state), typeof(device_ts_ns), "
            "typeof(detail), value, raw, device_ts_ns, detail FROM readings ORDER BY id"
        ).fetchall()
        gaps = gapmod.gaps_between(conn, now - 1, now + 10)
    assert rows == [
        ("real", "real", "good", "null", "null", "null", 1.5, 15.0, None, None),
        ("null", "null", "comm_error", "null", "null", "null", None, None, None, None),
        ("null", "null", "comm_error", "null", "null", "text", None, None, None, "timeout"),
        ("real", "null", "good", "null", "integer", "text", 2.5, None, now - 5, "late"),
        ("real", "real", "good", "null", "integer", "null", 0.0, 0.0, 0, None),
    ]
    assert [(g.subject, g.detail) for g in gaps if g.scope == "channel"] == [
        ("dev/a", None), ("dev/b", "timeout")
    ]


async def test_the_memory_bound_drops_the_oldest_readings_whole(tmp_path: Path) -> None:
    """The buffer is a flat parameter list: the bound counts readings, drops the oldest
    ones with all their values, and what is kept is committed intact."""
    path = tmp_path / "readings.db"
    store = EmbeddedStore(path, {}, memory_limit=5)
    now = utc_now_ns()
    store.append([Reading("dev/a", float(i), Quality.GOOD, now + i, float(-i)) for i in range(4)])
    store.append([Reading("dev/b", float(i), Quality.GOOD, now + i, float(-i),
                          now + 100 + i, f"d{i}") for i in range(4, 8)])
    assert (store.pending, store.dropped, store.accepted) == (5, 3, 8)
    await store.close()
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT s.channel, r.ts_ns - ?, r.value, r.raw, r.device_ts_ns - ?, r.detail "
            "FROM readings r JOIN series s ON s.id = r.series ORDER BY r.id", (now, now),
        ).fetchall()
    assert rows == [("dev/a", 3, 3.0, -3.0, None, None)] + [
        ("dev/b", i, float(i), float(-i), 100 + i, f"d{i}") for i in range(4, 8)
    ]
    assert store.committed == 5


async def test_a_failed_commit_puts_its_readings_back_before_those_appended_meanwhile(
    tmp_path: Path,
) -> None:
    """The commit takes the buffer whole; readings appended while it runs go to a new one.
    While it runs they are all pending; if it fails its readings are back in front, and
    everything lands in the file in the order it was accepted once the disk has room."""
    path = tmp_path / "readings.db"
    store = EmbeddedStore(path, {})
    now = utc_now_ns()
    store.append([Reading("d/a", 0.0, Quality.GOOD, now)])
    await store.flush()  # routed: the next buffer is committed whole
    conn = store._conn  # fault injection: SQLite's own "database or disk is full"
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    store.append([Reading("d/a", float(i), Quality.GOOD, now + i) for i in range(1, 5001)])
    flushing = asyncio.create_task(store.flush())
    await asyncio.sleep(0)  # the commit thread has the buffer
    assert store.pending == 5000
    store.append([Reading("d/a", 5001.0, Quality.GOOD, now + 5001)])
    assert store.pending == 5001
    with pytest.raises(StoreError, match="full"):
        await flushing
    assert store.pending == 5001
    conn.execute("PRAGMA max_page_count = 1073741823")  # space is back
    await store.close()
    with sqlite3.connect(path) as db:
        values = [v for (v,) in db.execute("SELECT value FROM readings ORDER BY id")]
    assert values == [float(i) for i in range(5002)]
    assert (store.committed, store.dropped) == (5002, 0)


async def test_readings_the_memory_bound_drops_while_a_commit_writes_them_are_kept(
    tmp_path: Path,
) -> None:
    """A commit writing a copy of the buffer's head while the memory bound drops the oldest
    readings: those it wrote are stored and not counted as dropped, and the newer readings
    behind them stay in the buffer for the next commit."""
    path = tmp_path / "readings.db"
    store = EmbeddedStore(path, {}, memory_limit=4)
    now = utc_now_ns()
    store.append([Reading("dev/a", float(i), Quality.GOOD, now + i) for i in range(4)])
    flushing = asyncio.create_task(store.flush())  # a new channel: committed from a copy
    await asyncio.sleep(0)  # the commit thread has the copy
    store.append([Reading("dev/a", float(i), Quality.GOOD, now + i) for i in range(4, 6)])
    assert store.dropped == 2  # the bound counts the buffer: the two oldest are gone from it
    await flushing
    await store.close()
    with sqlite3.connect(path) as db:
        values = [v for (v,) in db.execute("SELECT value FROM readings ORDER BY id")]
    assert values == [float(i) for i in range(6)]
    assert (store.committed, store.dropped) == (6, 0)
