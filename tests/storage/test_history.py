"""Embedded history: downsampling, latest values, retention, gaps with their cause."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.model import Quality, Reading, utc_now_ns
from monitor.storage.embedded import EmbeddedStore
from monitor.storage.history import History
from monitor.storage.outbox import CursorState
from tests.storage.support import add_forwarder, count_rows, v2_sink

NS = 1_000_000_000
T0 = 1_800_000_000 * NS  # a whole minute, far enough in the future for retention


async def _store_with(path: Path, items: list[Reading], **kw: object) -> EmbeddedStore:
    store = EmbeddedStore(path, {}, retention_s=10 * 365 * 86400, **kw)  # type: ignore[arg-type]
    store.append(items)
    await store.flush()
    return store


async def test_downsampling_gives_min_max_mean_of_good_values_per_bucket(tmp_path: Path) -> None:
    items = [
        Reading("pc1/pm05", 10.0, Quality.GOOD, T0 + 1 * NS),
        Reading("pc1/pm05", 30.0, Quality.GOOD, T0 + 20 * NS),
        Reading("pc1/pm05", 9999.0, Quality.OUT_OF_RANGE, T0 + 40 * NS),  # not in min/max/mean
        Reading("pc1/pm05", 50.0, Quality.GOOD, T0 + 61 * NS),
        Reading("pc1/pm05", None, Quality.COMM_ERROR, T0 + 62 * NS),
        Reading("pc1/pm50", 1.0, Quality.GOOD, T0 + 5 * NS),
    ]
    store = await _store_with(tmp_path / "readings.db", items)
    await store.close()
    with History(tmp_path) as history:
        result = history.query("pc1/pm05", None, T0, T0 + 120 * NS, every_s=60)
        raw = history.query("pm05", None, T0, T0 + 120 * NS)
    first, second = result.buckets
    assert (first.start_ns, first.count, first.good) == (T0, 3, 2)
    assert (first.min, first.max, first.mean) == (10.0, 30.0, 20.0)
    assert (second.start_ns, second.count, second.good) == (T0 + 60 * NS, 2, 1)
    assert (second.min, second.max, second.mean) == (50.0, 50.0, 50.0)
    assert [s.quality for s in raw.samples] == [
        "good", "good", "out_of_range", "good", "comm_error"
    ]
    assert raw.samples[0].channel == "pc1/pm05"


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 600 * NS),
            st.floats(-1e6, 1e6, allow_nan=False),
            st.sampled_from([Quality.GOOD, Quality.GOOD, Quality.STALE, Quality.COMM_ERROR]),
            st.sampled_from(["a/x", "a/y"]),
        ),
        min_size=1,
        max_size=60,
    ),
    st.sampled_from([1, 7, 60, 300]),
)
def test_downsampling_matches_a_plain_computation(
    points: list[tuple[int, float, Quality, str]], every: int
) -> None:
    items = [Reading(ch, v, q, T0 + t) for t, v, q, ch in points]
    expected: dict[tuple[str, int], list[tuple[float, Quality]]] = {}
    for t, v, q, ch in points:
        start = (T0 + t) // (every * NS) * every * NS
        expected.setdefault((ch, start), []).append((v, q))

    async def run(path: Path) -> None:
        store = await _store_with(path, items)
        await store.close()

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp) / "readings.db"))
        with History(tmp) as history:
            buckets = []
            for ch in ("a/x", "a/y"):
                buckets += history.query(ch, None, T0, T0 + 601 * NS, every_s=every).buckets
    assert {(b.channel, b.start_ns) for b in buckets} == set(expected)
    for b in buckets:
        values = expected[(b.channel, b.start_ns)]
        good = [v for v, q in values if q == Quality.GOOD]
        assert b.count == len(values)
        assert b.good == len(good)
        assert b.min == (min(good) if good else None)
        assert b.max == (max(good) if good else None)
        if good:
            assert b.mean is not None
            assert abs(b.mean - sum(good) / len(good)) <= 1e-6 * max(1.0, *map(abs, good))


async def test_latest_returns_the_newest_reading_per_channel(tmp_path: Path) -> None:
    store = await _store_with(
        tmp_path / "readings.db",
        [
            Reading("d/a", 1.0, Quality.GOOD, T0),
            Reading("d/a", 2.0, Quality.GOOD, T0 + NS),
            Reading("d/b", 5.0, Quality.STALE, T0),
        ],
    )
    await store.close()
    with History(tmp_path) as history:
        latest = history.latest()
    assert [(s.channel, s.value, s.quality) for s in latest] == [
        ("d/a", 2.0, "good"), ("d/b", 5.0, "stale")
    ]


async def test_retention_removes_old_readings_but_not_what_a_sink_still_needs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "readings.db"
    now = utc_now_ns()
    store = EmbeddedStore(path, {}, retention_s=3600)
    forwarder = add_forwarder(store, v2_sink("http://127.0.0.1:9"))  # never started
    store.append([Reading("d/a", float(i), Quality.GOOD, now - 7200 * NS + i) for i in range(50)])
    store.append([Reading("d/a", float(i), Quality.GOOD, now - 60 * NS + i) for i in range(30)])
    await store.flush()
    assert await store.apply_retention(now) == 0, "unsent readings must stay in the outbox"
    # the sink acknowledges the first 60 readings: the 50 old ones may go now
    forwarder.outbox.save(CursorState(60), now)
    assert await store.apply_retention(now) == 50
    assert count_rows(path) == 30
    await store.close()


async def test_device_offline_and_daemon_stop_are_recorded_as_gaps(tmp_path: Path) -> None:
    path = tmp_path / "readings.db"
    clock = [T0]
    store = EmbeddedStore(path, {}, clock=lambda: clock[0], retention_s=1e9)
    store.append([Reading("d/a", 1.0, Quality.GOOD, T0 + NS)])
    store.append([Reading("d/a", None, Quality.COMM_ERROR, T0 + 2 * NS, detail="timeout")])
    store.append([Reading("d/a", None, Quality.COMM_ERROR, T0 + 3 * NS, detail="timeout")])
    store.append([Reading("d/a", 2.0, Quality.GOOD, T0 + 9 * NS)])
    clock[0] = T0 + 10 * NS
    await store.close()  # clean stop at T0 + 10 s
    clock[0] = T0 + 100 * NS
    store = EmbeddedStore(path, {}, clock=lambda: clock[0], retention_s=1e9)
    await store.close()
    clock[0] = T0 + 200 * NS
    store = EmbeddedStore(path, {}, clock=lambda: clock[0], retention_s=1e9)
    # a series of the file, routed by id, goes offline: its gap names it as the first did
    store.append([Reading("d/a", 3.0, Quality.GOOD, T0 + 201 * NS)])
    await store.flush()
    store.append([Reading("d/a", None, Quality.COMM_ERROR, T0 + 202 * NS, detail="refused")])
    store.append([Reading("d/a", 4.0, Quality.GOOD, T0 + 205 * NS)])
    await store.close()
    with History(tmp_path) as history:
        gaps = history.query("d/a", None, T0, T0 + 300 * NS).gaps
    offline, stopped, stopped_again, offline_again = gaps
    assert (offline_again.cause, offline_again.subject, offline_again.start_ns,
            offline_again.end_ns, offline_again.detail) == (
        "device_offline", "d/a", T0 + 202 * NS, T0 + 205 * NS, "refused"
    )
    assert stopped_again.cause == "daemon_stopped"
    assert (offline.cause, offline.subject, offline.start_ns, offline.end_ns) == (
        "device_offline", "d/a", T0 + 2 * NS, T0 + 9 * NS
    )
    assert offline.detail == "timeout"
    assert (stopped.cause, stopped.start_ns, stopped.end_ns) == (
        "daemon_stopped", T0 + 10 * NS, T0 + 100 * NS
    )


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 50),
    st.lists(st.tuples(st.integers(0, 200), st.integers(0, 30)), max_size=12),
)
def test_outbox_cursor_ranges_behave_like_the_set_of_done_ids(
    cursor: int, marks: list[tuple[int, int]]
) -> None:
    state = CursorState(cursor)
    done = set(range(1, cursor + 1))
    for lo, length in marks:
        state = state.mark(lo, lo + length)
        done |= set(range(lo + 1, lo + length + 1))
    assert all(state.is_done(i) == (i in done) for i in range(1, 260))
    assert state.pending(259) == 259 - len(done)
    assert state.cursor + 1 not in done
    assert all(a > state.cursor and a < b for a, b in state.done if a != b)
    assert list(state.done) == sorted(state.done)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 95 * NS), st.sampled_from(["a/x", "a/y", "b/x"])),
        min_size=1, max_size=40,
    ),
    st.integers(-5 * NS, 100 * NS),
    st.integers(1, 100 * NS),
)
def test_raw_queries_and_latest_match_a_plain_filter_across_index_buckets(
    points: list[tuple[int, str]], start: int, length: int,
) -> None:
    """The index is keyed by 10-second buckets: a range that starts and ends anywhere
    inside or outside them returns exactly the readings in ``[from, to)``, in time order,
    and ``latest`` the newest reading of each channel, in whichever bucket it is."""
    items = [Reading(ch, float(i), Quality.GOOD, T0 + t) for i, (t, ch) in enumerate(points)]
    lo, hi = T0 + start, T0 + start + length

    async def run(path: Path) -> None:
        store = await _store_with(path, items)
        await store.close()

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp) / "readings.db"))
        with History(tmp) as history:
            raw = history.query("x", None, lo, hi).samples
            latest = history.latest()
    wanted = sorted(
        ((r.ts_ns, i) for i, r in enumerate(items) if lo <= r.ts_ns < hi and r.channel != "a/y"),
    )
    assert [(s.ts_ns, s.value) for s in raw] == [(t, float(i)) for t, i in wanted]
    newest: dict[str, Reading] = {}
    for r in items:  # ties: the later-inserted reading (higher id) wins
        if r.channel not in newest or newest[r.channel].ts_ns <= r.ts_ns:
            newest[r.channel] = r
    assert [(s.channel, s.ts_ns, s.value) for s in latest] == [
        (c, newest[c].ts_ns, newest[c].value) for c in sorted(newest)
    ]


def test_queries_of_an_empty_database_or_range_return_nothing(tmp_path: Path) -> None:
    async def run() -> None:
        store = EmbeddedStore(tmp_path / "readings.db", {})
        await store.close()

    asyncio.run(run())
    with History(tmp_path) as history:
        assert history.query(None, None).samples == []
        assert history.latest() == []
