"""The event log is append-only and hash-chained; tampering of any kind is found."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.alarms.eventlog import EventLog
from monitor.alarms.events import AlarmEvent, AlarmState, EventKind, Level, Mode
from monitor.errors import StoreError

T0 = 1_800_000_000_000_000_000


def event(seq: int, kind: EventKind = EventKind.RAISED, alarm_id: int = 1,
          state: AlarmState = AlarmState.ACTIVE_UNACK) -> AlarmEvent:
    return AlarmEvent(seq=seq, id=f"x-{seq}", ts_ns=T0 + seq, kind=kind, alarm_id=alarm_id,
                      point="th1/t:high_action", location="fill-1", channel="th1/t",
                      rule="high_action", level=Level.ACTION, priority="high", state=state,
                      prev_state=AlarmState.NORMAL, mode=Mode.IN_SERVICE, value=30.5,
                      limit=25.0, location_state="in_operation",
                      details={"samples": [[T0, 30.5]], "limits": {"high_action": 25.0}})


@pytest.fixture
def log(tmp_path: Path) -> Iterator[EventLog]:
    out = EventLog(tmp_path)
    out.append([event(1), event(2, EventKind.PEAK), event(3, EventKind.CLEARED,
                                                          state=AlarmState.RTN_UNACK)])
    yield out
    out.close()


def raw(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "alarms.db", isolation_level=None)


def test_events_read_back_exactly(log: EventLog) -> None:
    back = log.events()
    assert [e.seq for e in back] == [1, 2, 3]
    assert back[0] == event(1)
    assert log.verify() is None


@pytest.mark.parametrize("sql", [
    "UPDATE events SET kind = 'cleared' WHERE seq = 1",
    "DELETE FROM events WHERE seq = 3",
    "DELETE FROM events",
    "UPDATE meta SET value = 'x'",
    "DELETE FROM requests",
])
def test_update_and_delete_are_refused(log: EventLog, tmp_path: Path, sql: str) -> None:
    conn = raw(tmp_path)
    conn.execute("INSERT INTO requests (ts_ns, op, args, user, reason) "
                 "VALUES (1, 'ack', '{}', 'u', 'r')")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute(sql)
    conn.close()
    assert log.verify() is None


def tamper(tmp_path: Path, *sql: str) -> None:
    conn = raw(tmp_path)
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("DROP TRIGGER events_no_delete")
    for statement in sql:
        conn.execute(statement)
    conn.close()


def test_an_edited_record_is_found(log: EventLog, tmp_path: Path) -> None:
    record = json.loads(raw(tmp_path).execute("SELECT record FROM events WHERE seq = 2")
                        .fetchone()[0])
    record["value"] = 12.0
    tamper(tmp_path, f"UPDATE events SET record = '{json.dumps(record)}' WHERE seq = 2")
    problem = log.verify()
    assert problem is not None
    assert problem.seq == 2
    assert "altered" in problem.message


def test_an_edited_query_column_is_found(log: EventLog, tmp_path: Path) -> None:
    tamper(tmp_path, "UPDATE events SET state = 'normal' WHERE seq = 3")
    problem = log.verify()
    assert problem is not None
    assert problem.seq == 3


def test_a_deleted_row_is_found(log: EventLog, tmp_path: Path) -> None:
    tamper(tmp_path, "DELETE FROM events WHERE seq = 2")
    problem = log.verify()
    assert problem is not None
    assert problem.seq == 2
    assert "missing" in problem.message


def test_an_inserted_row_is_found(log: EventLog, tmp_path: Path) -> None:
    conn = raw(tmp_path)
    row = conn.execute("SELECT * FROM events WHERE seq = 3").fetchone()
    conn.close()
    tamper(tmp_path, "DELETE FROM events WHERE seq = 3")
    conn = raw(tmp_path)
    fake = json.loads(row[7])
    fake["value"] = 99.0
    conn.execute("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?)",
                 (3, *row[1:7], json.dumps(fake), row[8], row[9]))
    conn.close()
    problem = log.verify()
    assert problem is not None
    assert problem.seq == 3


def test_cutting_off_the_newest_events_is_found(log: EventLog, tmp_path: Path) -> None:
    tamper(tmp_path, "DELETE FROM events WHERE seq = 3")
    problem = log.verify()
    assert problem is not None
    assert "published head" in problem.message


def test_appends_must_continue_the_sequence(log: EventLog) -> None:
    with pytest.raises(StoreError, match="does not follow"):
        log.append([event(5)])
    log.append([event(4, EventKind.ACKNOWLEDGED, state=AlarmState.NORMAL)])
    assert log.head()[0] == 4
    assert log.verify() is None


def test_read_only_log_cannot_write(log: EventLog, tmp_path: Path) -> None:
    ro = EventLog(tmp_path, readonly=True)
    try:
        assert ro.log_id == log.log_id
        with pytest.raises(StoreError):
            ro.append([event(4)])
    finally:
        ro.close()


def test_read_only_without_a_log_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no alarm event log"):
        EventLog(tmp_path / "empty", readonly=True)


def test_rebuild_reads_only_what_decides_the_state(log: EventLog) -> None:
    log.append([event(4, EventKind.ACKNOWLEDGED, state=AlarmState.NORMAL),
                event(5, alarm_id=2)])
    seqs = [e.seq for e in log.rebuild_events()]
    assert seqs == [5]  # alarm 1 is closed; alarm 2's raise is the point's last event
