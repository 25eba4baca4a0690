"""QA reads excursions from the alarm engine's own event log file."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.alarms.eventlog import EventLog
from monitor.alarms.events import AlarmEvent
from monitor.errors import StoreError
from monitor.qa.excursions import AlarmLogSource

from .events import T0, EventWriter, S, two_excursions


def write_log(data_dir: Path, w: EventWriter) -> None:
    log = EventLog(data_dir)
    log.append([AlarmEvent.from_json(r) for r in w.records])
    log.close()


def test_excursions_from_the_event_log(tmp_path: Path) -> None:
    w = two_excursions()
    w.add("raised", T0 + 5000 * S, 3, level="alert", channel="dp1/dp", location="fill-1",
          value=11.0, limit=12.0)
    w.add("raised", T0 + 5100 * S, 4, level="health", channel="dp1/dp", location="fill-1")
    write_log(tmp_path, w)
    source = AlarmLogSource(tmp_path)
    everything = source.excursions(T0, T0 + 86400 * S)
    assert [e.id for e in everything] == ["1", "2", "3"]  # the health alarm is not one
    assert [e.id for e in source.excursions(T0, T0 + 86400 * S, "fill-1")] == ["3"]
    assert [e.id for e in source.excursions(T0 + 1000 * S, T0 + 2000 * S)] == []
    first = source.excursion("1")
    assert first is not None
    assert first.end_ns == T0 + 895 * S
    assert source.excursion("4") is None
    assert source.excursion("nope") is None
    source.close()


def test_missing_event_log_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no alarm event log"):
        AlarmLogSource(tmp_path)
