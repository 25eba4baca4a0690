"""``rebuild_events`` steps through the indexes point by point, with the same result as before.

The reference is the former query pair (``GROUP BY point`` over the whole index),
kept here so that any difference in the restored events is found.
"""

from __future__ import annotations

import json
import random
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.alarms import eventlog
from monitor.alarms.eventlog import EventLog
from monitor.alarms.events import AlarmEvent, AlarmState, EventKind

KINDS = list(EventKind)
STATES = [None, *AlarmState]
SHELVING = (EventKind.SHELVED, EventKind.UNSHELVED)


def former_rebuild(log: EventLog) -> list[AlarmEvent]:
    """``rebuild_events`` as it was: both groupings walk every entry of the index."""
    last = log.execute("SELECT MAX(seq) FROM events WHERE point IS NOT NULL GROUP BY point")
    shelving = log.execute(
        "SELECT MAX(seq) FROM events WHERE kind IN ('shelved', 'unshelved') GROUP BY point")
    seqs = {int(r[0]) for r in last} | {int(r[0]) for r in shelving}
    rows = [AlarmEvent.from_json(json.loads(r[0])) for s in sorted(seqs)
            for r in log.execute("SELECT record FROM events WHERE seq = ?", (s,))]
    open_ids = {e.alarm_id for e in rows if e.alarm_id is not None and e.state is not None
                and str(e.state) != "normal"}
    by_seq = {e.seq: e for e in rows}
    for event in log.events_of_alarms(i for i in open_ids if i is not None):
        by_seq[event.seq] = event
    return [by_seq[s] for s in sorted(by_seq)]


def make_event(seq: int, kind: EventKind, point: str | None, alarm_id: int | None,
               state: AlarmState | None) -> AlarmEvent:
    return AlarmEvent(seq=seq, id=f"r-{seq}", ts_ns=1_800_000_000_000_000_000 + seq,
                      kind=kind, alarm_id=alarm_id, point=point, location="fill-1", state=state)


def random_log(data_dir: Path, rnd: random.Random, n: int, points: int) -> EventLog:
    """A log of ``n`` events over ``points`` points, some without a point, some shelving."""
    log = EventLog(data_dir)
    names = [f"ch{i}/t:high_action" for i in range(points)]
    events = []
    for seq in range(1, n + 1):
        kind = rnd.choice(SHELVING) if rnd.random() < 0.1 else rnd.choice(KINDS)
        point = None if rnd.random() < 0.05 else rnd.choice(names)
        alarm_id = None if rnd.random() < 0.1 else rnd.randrange(1, points * 2 + 1)
        events.append(make_event(seq, kind, point, alarm_id, rnd.choice(STATES)))
    for start in range(0, n, 1000):
        log.append(events[start:start + 1000])
    return log


kinds = st.sampled_from(KINDS)
events_st = st.lists(st.tuples(
    st.one_of(kinds, st.sampled_from(SHELVING)),
    st.one_of(st.none(), st.sampled_from(["a:x", "b:x", "b:y", "", "c", "é:x", "a"])),
    st.one_of(st.none(), st.integers(1, 6)),
    st.sampled_from(STATES)), min_size=0, max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events_st)
def test_rebuild_matches_the_former_query_on_random_logs(
        spec: list[tuple[EventKind, str | None, int | None, AlarmState | None]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log = EventLog(tmp)
        try:
            log.append([make_event(i, *s) for i, s in enumerate(spec, start=1)])
            assert log.rebuild_events() == former_rebuild(log)
        finally:
            log.close()


def test_rebuild_matches_on_many_points_and_events(tmp_path: Path) -> None:
    log = random_log(tmp_path, random.Random(8), n=20_000, points=400)
    try:
        expected = former_rebuild(log)
        assert len(expected) > 400  # every point's last event, shelving, open alarms
        assert any(e.point is None for e in expected)
        assert any(e.kind in SHELVING for e in expected)
        assert log.rebuild_events() == expected
    finally:
        log.close()


def query_plan(data_dir: Path, sql: str) -> list[str]:
    conn = sqlite3.connect(data_dir / eventlog.DB_NAME)
    try:
        return [str(r[3]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
    finally:
        conn.close()


def test_each_point_is_one_seek_through_the_point_index(tmp_path: Path) -> None:
    random_log(tmp_path, random.Random(3), n=2_000, points=50).close()
    steps = query_plan(tmp_path, eventlog._LAST_PER_POINT)
    on_events = [s for s in steps if " events" in s]
    assert len(on_events) == 3, steps  # first point, next point, last seq of a point
    assert all(s.startswith("SEARCH events USING COVERING INDEX events_point")
               for s in on_events), steps
    assert any("(point>?)" in s for s in on_events), steps
    assert any("(point=?)" in s for s in on_events), steps
    assert not [s for s in steps if "TEMP B-TREE" in s], steps


def test_shelving_changes_are_found_through_the_kind_index(tmp_path: Path) -> None:
    random_log(tmp_path, random.Random(3), n=2_000, points=50).close()
    steps = query_plan(tmp_path, eventlog._LAST_SHELVING_PER_POINT)
    assert [s for s in steps if " events" in s] == [
        "SEARCH events USING INDEX events_kind_ts (kind=?)"], steps


def test_read_only_log_rebuilds_the_same(tmp_path: Path) -> None:
    random_log(tmp_path, random.Random(5), n=3_000, points=60).close()
    ro = EventLog(tmp_path, readonly=True)
    try:
        assert ro.rebuild_events() == former_rebuild(ro)
    finally:
        ro.close()
