"""The event log hashes the record text it writes only where that is what verification hashes.

``EventLog.append`` gives ``ChainedTable.append`` the JSON it stores as the
canonical bytes of each record, sparing the read-back and re-dump; verification
still hashes ``canonical(json.loads(text))``. Both must agree for any details an
event carries, keys of other kinds than strings included (those go the slow way).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.alarms.eventlog import SPEC, EventLog, _dump, _round_trips
from monitor.alarms.events import AlarmEvent, AlarmState, EventKind, Level, Mode
from monitor.integrity import GENESIS, chain_hash

T0 = 1_800_000_000_000_000_000

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=6),
                    st.floats(allow_nan=True, allow_infinity=True))
# one kind of key per dict: sort_keys cannot order strings among ints (nor can the log)
keys = (st.text(max_size=4), st.integers(-3, 12))


def dicts(inner: st.SearchStrategy[Any], size: int) -> st.SearchStrategy[dict[Any, Any]]:
    return st.one_of(*(st.dictionaries(k, inner, max_size=size) for k in keys))


values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.tuples(inner, inner), dicts(inner, 4)), max_leaves=12)
details = st.one_of(st.none(), dicts(values, 5))


def event(seq: int, extra: dict[Any, Any] | None, value: float) -> AlarmEvent:
    return AlarmEvent(seq=seq, id=f"x-{seq}", ts_ns=T0 + seq, kind=EventKind.RAISED,
                      alarm_id=seq, point="th1/t:high_action", location="fill-1",
                      channel="th1/t", rule="high_action", level=Level.ACTION, priority="high",
                      state=AlarmState.ACTIVE_UNACK, prev_state=AlarmState.NORMAL,
                      mode=Mode.IN_SERVICE, value=value, limit=25.0,
                      location_state="in_operation", details=extra)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(details, st.floats(allow_nan=True)), min_size=1, max_size=4))
def test_stored_hashes_are_those_verification_computes(
        batch: list[tuple[dict[Any, Any] | None, float]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log = EventLog(Path(tmp))
        try:
            log.append([event(i + 1, extra, value) for i, (extra, value) in enumerate(batch)])
            rows = log.table.select()
            prev = GENESIS
            for row in rows:
                *values_, prev_hash, digest = row
                assert prev_hash == prev
                assert digest == chain_hash(prev, SPEC.record(tuple(values_)))
                prev = digest
            assert log.verify() is None
        finally:
            log.close()


def test_keys_other_than_strings_go_through_the_round_trip() -> None:
    assert _round_trips({"a": [1, {"b": math.nan}], "c": (1, "x")})
    assert not _round_trips({"a": {2: "x", 10: "y"}})
    assert not _round_trips({"a": [{True: 1}]})


def test_int_keys_sorted_as_numbers_still_verify(tmp_path: Path) -> None:
    # {2, 10} sorts as numbers when written, as strings ("10" < "2") once read back
    log = EventLog(tmp_path)
    try:
        log.append([event(1, {2: "a", 10: "b"}, 1.0), event(2, None, 2.0)])
        assert log.verify() is None
    finally:
        log.close()


def _dumps(record: dict[str, Any]) -> str:
    """The stored text as ``json.dumps`` wrote it before the encoder was made once."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


@settings(max_examples=80, deadline=None)
@given(details, st.floats(allow_nan=True, allow_infinity=True))
def test_the_stored_text_is_what_json_dumps_wrote(extra: dict[Any, Any] | None,
                                                  value: float) -> None:
    record = event(7, extra, value).to_json()
    assert _dump(record) == _dumps(record)
    odd = {"when": Path("/x"), "state": AlarmState.ACTIVE_UNACK, "text": "Füllraum ±0.5 Pa",
           "nested": {"b": (1, [2.5, None]), "a": -0.0}, "n": 10**30}
    assert _dump(odd) == _dumps(odd)


def test_scalars_and_strings_round_trip_without_looking_at_each() -> None:
    assert _round_trips(event(1, {"source": "default", "previous": None}, 1.0).to_json())
    assert _round_trips({"a": AlarmState.NORMAL, "b": [Level.ACTION, 1], "c": {}})
    assert not _round_trips({"a": 1, "b": (1, {"x": [{3: 1}]})})
    assert not _round_trips([1, {1.5: "x"}])
