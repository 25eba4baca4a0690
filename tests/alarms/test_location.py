"""Location state: weekly schedule (time zone, midnight, DST), input channel, manual setting."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.errors import AlarmError, ConfigError

from .site import Harness, at, limits, site

T0_FRIDAY_0800_UTC = 0.0
HOUR = 3600.0


def rooms(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": "fill", "grade": "B", "locations": [{"name": "fill-1", "state": state}]}]


def harness(tmp_path: Path, state: dict[str, Any], tz: str = "UTC", start: float = 0.0,
            **alarm_extra: Any) -> Harness:
    loaded = site(tmp_path, rooms=rooms(state),
                  site={"id": "plant-a", "name": "Plant A", "timezone": tz},
                  alarms=limits({"channel": "pc1/p05", "high_action": "preset"}, **alarm_extra))
    h = Harness(loaded, start=start)
    h.tick(start)
    return h


def loc_state(h: Harness) -> str:
    return h.engine.t.locations["fill-1"].state


WEEKDAYS = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00", "end": "19:00",
            "state": "in_operation"}


@pytest.mark.parametrize(("seconds_after_t0", "expected"), [
    (0.0, "in_operation"),  # Friday 08:00
    (11 * HOUR - 1, "in_operation"),  # Friday 18:59:59
    (11 * HOUR, "at_rest"),  # Friday 19:00
    (24 * HOUR, "at_rest"),  # Saturday 08:00
    (71 * HOUR, "in_operation"),  # Monday 07:00
    (71 * HOUR - 60, "at_rest"),  # Monday 06:59
])
def test_weekly_schedule(tmp_path: Path, seconds_after_t0: float, expected: str) -> None:
    h = harness(tmp_path, {"default": "at_rest", "schedule": [WEEKDAYS]}, start=seconds_after_t0)
    assert loc_state(h) == expected


def test_schedule_switch_is_recorded_once_within_a_minute(tmp_path: Path) -> None:
    h = harness(tmp_path, {"default": "at_rest", "schedule": [WEEKDAYS]})
    h.events.clear()
    for second in range(int(11 * HOUR) - 5, int(11 * HOUR) + 70):
        h.tick(float(second))
    changes = [e for e in h.events if e.kind == "location_state"]
    assert [(c.location_state, c.ts_ns) for c in changes] == [("at_rest", at(11 * HOUR))]
    assert changes[0].details == {"source": "schedule", "previous": "in_operation"}


def test_overnight_window(tmp_path: Path) -> None:
    night = {"days": ["fri"], "start": "22:00", "end": "06:00", "state": "in_operation"}
    h = harness(tmp_path, {"default": "at_rest", "schedule": [night]}, start=14 * HOUR)
    assert loc_state(h) == "in_operation"  # Friday 22:00
    h.tick(21 * HOUR)  # Saturday 05:00
    assert loc_state(h) == "in_operation"
    h.tick(22 * HOUR)  # Saturday 06:00
    assert loc_state(h) == "at_rest"


def test_schedule_in_site_time_zone_across_dst(tmp_path: Path) -> None:
    # Berlin switches to summer time on 2027-03-28; 07:00 local is 06:00 UTC before, 05:00 after
    def seconds(iso: str) -> float:
        return datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp() - 1_800_000_000

    h = harness(tmp_path, {"default": "at_rest", "schedule": [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00", "end": "19:00"}]},
        tz="Europe/Berlin", start=seconds("2027-03-26T05:59:00"))
    assert loc_state(h) == "at_rest"
    h.tick(seconds("2027-03-26T06:00:00"))
    assert loc_state(h) == "in_operation"
    h.tick(seconds("2027-03-29T04:59:00"))
    assert loc_state(h) == "at_rest"
    h.tick(seconds("2027-03-29T05:00:00"))
    assert loc_state(h) == "in_operation"


def test_limits_follow_the_state(tmp_path: Path) -> None:
    h = harness(tmp_path, {"default": "at_rest", "schedule": [WEEKDAYS]}, start=11 * HOUR)
    assert loc_state(h) == "at_rest"
    (event,) = h.feed("pc1/p05", 3_521.0, 11 * HOUR + 1)
    assert (event.limit, event.location_state) == (3_520.0, "at_rest")
    assert event.details is not None
    assert event.details["limits"]["state"] == "at_rest"


@pytest.mark.parametrize(("value", "when", "expected"), [
    (1.0, "nonzero", "in_operation"), (0.0, "nonzero", "at_rest"),
    (0.0, "zero", "in_operation"), (1.0, "zero", "at_rest"),
])
def test_input_channel(tmp_path: Path, value: float, when: str, expected: str) -> None:
    h = harness(tmp_path, {"default": "in_operation" if expected == "at_rest" else "at_rest",
                           "input": "dp1/door", "input_in_operation_when": when})
    h.feed("dp1/door", value, 1.0)
    assert loc_state(h) == expected
    change = [e for e in h.events if e.kind == "location_state"][-1]
    assert change.details is not None
    assert change.details["source"] == "input dp1/door"


def test_input_overrides_schedule_and_manual_overrides_input(tmp_path: Path) -> None:
    h = harness(tmp_path, {"default": "at_rest", "schedule": [WEEKDAYS], "input": "dp1/door"})
    assert loc_state(h) == "in_operation"
    h.feed("dp1/door", 0.0, 1.0)
    assert loc_state(h) == "at_rest"
    h.engine.set_location_state("fill-1", "in_operation", user="qa", reason="batch 42",
                                ts_ns=at(2.0), until_ns=at(100.0))
    h.feed("dp1/door", 0.0, 3.0)
    assert loc_state(h) == "in_operation"
    h.tick(100.0)  # manual state expired: the input decides again
    assert loc_state(h) == "at_rest"


def test_manual_state_is_recorded_with_user_and_released_with_auto(tmp_path: Path) -> None:
    h = harness(tmp_path, {"default": "in_operation"})
    (event,) = h.engine.set_location_state("fill-1", "at_rest", user="qa", reason="cleaning",
                                           ts_ns=at(5.0))
    assert (event.user, event.reason, event.location_state) == ("qa", "cleaning", "at_rest")
    assert event.details == {"source": "manual", "previous": "in_operation", "until_ns": None}
    (back,) = h.engine.set_location_state("fill-1", "auto", user="qa", reason="done",
                                          ts_ns=at(6.0))
    assert (back.location_state, back.details) == (
        "in_operation", {"source": "default", "previous": "at_rest"})
    with pytest.raises(AlarmError):
        h.engine.set_location_state("fill-1", None, user="qa", reason="again", ts_ns=at(7.0))


@pytest.mark.parametrize(("location", "state"), [("nowhere", "at_rest"), ("fill-1", "busy")])
def test_bad_manual_state_refused(tmp_path: Path, location: str, state: str) -> None:
    h = harness(tmp_path, {})
    with pytest.raises(AlarmError):
        h.engine.set_location_state(location, state, user="qa", reason="x", ts_ns=at(1.0))


@pytest.mark.parametrize("bad", [
    {"schedule": [{"days": ["mon"], "start": "7:00", "end": "19:00"}]},
    {"schedule": [{"days": ["monday"], "start": "07:00", "end": "19:00"}]},
    {"schedule": [{"days": [], "start": "07:00", "end": "19:00"}]},
    {"input": "nope/x"},
])
def test_bad_state_config_refused(tmp_path: Path, bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        site(tmp_path, rooms=rooms(bad))


@pytest.mark.parametrize(("tick", "state"), [(11 * HOUR + 1199, "in_operation"),
                                             (11 * HOUR + 1200, "at_rest")])
def test_clean_up_period_keeps_operation_limits(tmp_path: Path, tick: float,
                                                 state: str) -> None:
    h = harness(tmp_path, {"default": "at_rest", "schedule": [WEEKDAYS], "clean_up": "20m"})
    for t in range(int(11 * HOUR) - 60, int(tick) + 1, 30):
        h.tick(float(t))
    h.tick(tick)
    assert loc_state(h) == state
    if state == "in_operation":  # 3,521/m3 is fine while cleaning up after operations
        assert h.feed("pc1/p05", 3_521.0, tick) == []
    else:
        change = [e for e in h.events if e.kind == "location_state"][-1]
        assert change.ts_ns == at(11 * HOUR + 1200)
        assert change.details is not None
        assert change.details["clean_up_from_ns"] == at(11 * HOUR)


def test_operations_resuming_during_clean_up_cancel_it(tmp_path: Path) -> None:
    h = harness(tmp_path, {"default": "in_operation", "input": "dp1/door", "clean_up": "20m"})
    h.feed("dp1/door", 0.0, 1.0)  # "production running" contact off: clean-up starts
    h.feed("dp1/door", 1.0, 600.0)
    h.tick(1300.0)
    assert loc_state(h) == "in_operation"
    assert [e for e in h.events if e.kind == "location_state"] == []


def test_manual_at_rest_applies_at_once(tmp_path: Path) -> None:
    h = harness(tmp_path, {"default": "in_operation", "clean_up": "20m"})
    h.engine.set_location_state("fill-1", "at_rest", user="qa", reason="line cleared",
                                ts_ns=at(1.0))
    assert loc_state(h) == "at_rest"
