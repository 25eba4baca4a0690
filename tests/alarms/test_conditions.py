"""Every delay and counting rule at its boundary, on a fake clock; bad input never moves alarms."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from monitor.alarms.events import AlarmState
from monitor.model import Quality

from .site import Harness, at, limits, site

HIGH = "th1/t:high_action"


def harness(tmp_path: Path, **limit: object) -> Harness:
    entry: dict[str, object] = {"channel": "th1/t", "high_action": 25.0, **limit}
    return Harness(site(tmp_path, alarms=limits(entry)))


# --- on-delay ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("second_sample", "alarm"), [(29.9, False), (30.0, True)])
def test_on_delay_by_samples(tmp_path: Path, second_sample: float, alarm: bool) -> None:
    h = harness(tmp_path, on_delay="30s")
    assert h.feed("th1/t", 26.0, 0.0) == []
    events = h.feed("th1/t", 26.0, second_sample)
    assert bool(events) is alarm
    if alarm:
        assert events[0].ts_ns == at(30.0)
        assert events[0].details is not None
        assert events[0].details["start_ns"] == at(0.0)


@pytest.mark.parametrize(("tick", "alarm"), [(29.9, False), (30.0, True)])
def test_on_delay_by_time_passing(tmp_path: Path, tick: float, alarm: bool) -> None:
    h = harness(tmp_path, on_delay="30s")
    h.feed("th1/t", 26.0, 0.0)
    assert bool(h.tick(tick)) is alarm


@pytest.mark.parametrize(("normal_at", "alarm"), [(29.9, False), (30.0, False), (30.1, True)])
def test_on_delay_interrupted(tmp_path: Path, normal_at: float, alarm: bool) -> None:
    """A normal sample at or before the delay's end cancels it; one after it is too late."""
    h = harness(tmp_path, on_delay="30s")
    h.feed("th1/t", 26.0, 0.0)
    h.feed("th1/t", 24.0, normal_at)
    assert ("raised" in h.kinds(HIGH)) is alarm
    if alarm:  # raised at 30.0 (the condition held until then), cleared by the sample
        assert [e.ts_ns for e in h.events] == [at(30.0), at(normal_at)]


def test_on_delay_restarts_after_an_interruption(tmp_path: Path) -> None:
    h = harness(tmp_path, on_delay="30s")
    h.series("th1/t", [26.0, 26.0, 24.0, 26.0], step=10.0)  # violation again from 30 s
    assert h.tick(59.9) == []
    assert [e.kind for e in h.tick(60.0)] == ["raised"]


# --- off-delay ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("tick", "cleared"), [(109.9, False), (110.0, True)])
def test_off_delay(tmp_path: Path, tick: float, cleared: bool) -> None:
    h = harness(tmp_path, off_delay="10s")
    h.feed("th1/t", 26.0, 0.0)
    h.feed("th1/t", 24.0, 100.0)
    assert bool(h.tick(tick)) is cleared
    assert h.state(HIGH) is (AlarmState.RTN_UNACK if cleared else AlarmState.ACTIVE_UNACK)


def test_off_delay_cancelled_by_a_new_violation(tmp_path: Path) -> None:
    h = harness(tmp_path, off_delay="10s")
    h.series("th1/t", [26.0, 24.0, 26.0, 24.0], step=5.0)
    assert h.tick(24.9) == []
    (cleared,) = h.tick(25.0)
    assert cleared.details is not None
    assert cleared.details["end_ns"] == at(15.0)  # the value was back from the last normal sample


# --- deadband ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "clears"), [(24.51, False), (24.5, True)])
def test_deadband_on_return(tmp_path: Path, value: float, clears: bool) -> None:
    h = harness(tmp_path, deadband=0.5)
    h.feed("th1/t", 25.1, 0.0)
    h.feed("th1/t", value, 1.0)
    assert h.state(HIGH) is (AlarmState.RTN_UNACK if clears else AlarmState.ACTIVE_UNACK)


def test_deadband_does_not_lower_the_raising_threshold(tmp_path: Path) -> None:
    h = harness(tmp_path, deadband=0.5)
    assert h.feed("th1/t", 24.9, 0.0) == []
    assert h.feed("th1/t", 25.0, 1.0) == []


def test_low_limit_with_deadband(tmp_path: Path) -> None:
    entry = {"channel": "dp1/dp", "low_action": 10.0, "deadband": 1.0}
    h = Harness(site(tmp_path, alarms=limits(entry)))
    assert h.feed("dp1/dp", 10.0, 0.0) == []
    assert [e.kind for e in h.feed("dp1/dp", 9.9, 1.0)] == ["raised"]
    assert h.feed("dp1/dp", 10.9, 2.0) == []
    assert [e.kind for e in h.feed("dp1/dp", 11.0, 3.0)] == ["cleared"]


# --- n of m ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "raised_at"), [
    ([1, 0, 0, 1, 0, 0], None),  # never 2 within 3
    ([1, 0, 1], 2),
    ([1, 1], 1),
    ([0, 1, 0, 0, 1, 0, 1], 6),
])
def test_two_of_three(tmp_path: Path, pattern: list[int], raised_at: int | None) -> None:
    h = harness(tmp_path, consecutive=2, window=3)
    for i, bit in enumerate(pattern):
        events = h.feed("th1/t", 30.0 if bit else 20.0, float(i))
        if events:
            assert events[0].kind == "raised"
            assert i == raised_at
            return
    assert raised_at is None


def test_n_of_m_needs_the_window_to_empty_to_clear(tmp_path: Path) -> None:
    h = harness(tmp_path, consecutive=2, window=3)
    h.series("th1/t", [30.0, 30.0])
    assert h.feed("th1/t", 20.0, 2.0) == []  # window 1,1,0: still 2 of 3
    assert [e.kind for e in h.feed("th1/t", 20.0, 3.0)] == ["cleared"]  # 1,0,0


def test_n_of_m_records_the_triggering_samples(tmp_path: Path) -> None:
    h = harness(tmp_path, consecutive=3, window=5)
    h.series("th1/t", [30.0, 20.0, 31.0, 20.0, 32.0])
    raised = next(e for e in h.events if e.kind == "raised")
    assert raised.details is not None
    assert [v for _, v in raised.details["samples"]] == [30.0, 31.0, 32.0]
    assert raised.details["start_ns"] == at(0.0)
    assert raised.details["settings"]["n"] == 3


# --- rate of change ----------------------------------------------------------------------------


@pytest.mark.parametrize(("rise", "alarm"), [(2.0, False), (2.01, True)])
def test_rate_of_change_boundary(tmp_path: Path, rise: float, alarm: bool) -> None:
    h = harness(tmp_path, high_action=100.0,
                rate_of_change={"max_change": 2.0, "per": "60s", "direction": "rise"})
    h.feed("th1/t", 20.0, 0.0)
    h.feed("th1/t", 20.0 + rise / 2, 30.0)
    events = h.feed("th1/t", 20.0 + rise, 60.0)
    assert bool(events) is alarm
    if alarm:
        assert events[0].rule == "rate_of_change"
        assert events[0].value == pytest.approx(rise)


def test_rate_of_change_compares_within_the_window_only(tmp_path: Path) -> None:
    h = harness(tmp_path, high_action=100.0,
                rate_of_change={"max_change": 2.0, "per": "60s"})
    h.feed("th1/t", 20.0, 0.0)
    assert h.feed("th1/t", 23.0, 60.1) == []  # the 0 s sample is outside the window
    assert [e.rule for e in h.feed("th1/t", 15.0, 61.0)] == ["rate_of_change"]  # a fall


def test_rate_of_change_direction(tmp_path: Path) -> None:
    h = harness(tmp_path, high_action=100.0,
                rate_of_change={"max_change": 2.0, "per": "60s", "direction": "rise"})
    h.feed("th1/t", 20.0, 0.0)
    assert h.feed("th1/t", 10.0, 10.0) == []


def test_rate_of_change_beyond_64_bit_times(tmp_path: Path) -> None:
    """The window keeps its times as 64-bit numbers; a later time (a device clock gone mad)
    is still compared exactly, in a list from then on."""
    h = harness(tmp_path, high_action=100.0,
                rate_of_change={"max_change": 2.0, "per": "60s"})
    h.feed("th1/t", 20.0, 0.0)
    far = (2**63 - at(0)) / 1e9 + 5.0  # seconds after T0 beyond the largest 64-bit time
    assert h.feed("th1/t", 20.0, far) == []
    assert h.feed("th1/t", 21.0, far + 30.0) == []
    events = h.feed("th1/t", 23.0, far + 59.0)
    assert [e.rule for e in events] == ["rate_of_change"]
    assert events[0].value == pytest.approx(3.0)
    assert events[0].ts_ns > 2**63
    assert isinstance(h.engine.t.conditions["th1/t:rate_of_change"].buf_t, list)  # type: ignore[attr-defined]


# --- door suppression --------------------------------------------------------------------------


def door_harness(tmp_path: Path) -> Harness:
    alarms = limits({"channel": "dp1/dp", "low_action": 10.0},
                    doors=[{"channel": "dp1/door", "suppress_for": "60s", "settle": "10s",
                            "held_open_after": "120s"}])
    return Harness(site(tmp_path, alarms=alarms))


@pytest.mark.parametrize(("dp_at", "alarm"), [(59.9, False), (60.0, True)])
def test_door_open_suppresses_pressure_alarms_for_a_while(tmp_path: Path, dp_at: float,
                                                           alarm: bool) -> None:
    h = door_harness(tmp_path)
    h.feed("dp1/door", 1.0, 0.0)
    events = h.feed("dp1/dp", 2.0, dp_at)
    assert any(e.rule == "low_action" for e in events) is alarm


@pytest.mark.parametrize(("dp_at", "alarm"), [(14.9, False), (15.0, True)])
def test_door_settle_time_after_closing(tmp_path: Path, dp_at: float, alarm: bool) -> None:
    h = door_harness(tmp_path)
    h.feed("dp1/door", 1.0, 0.0)
    h.feed("dp1/door", 0.0, 5.0)
    events = h.feed("dp1/dp", 2.0, dp_at)
    assert any(e.rule == "low_action" for e in events) is alarm


def test_open_door_does_not_clear_an_active_pressure_alarm(tmp_path: Path) -> None:
    h = door_harness(tmp_path)
    h.feed("dp1/dp", 2.0, 0.0)
    h.feed("dp1/door", 1.0, 1.0)
    h.feed("dp1/dp", 12.0, 2.0)  # during suppression: ignored, not a return to normal
    assert h.state("dp1/dp:low_action") is AlarmState.ACTIVE_UNACK
    h.feed("dp1/dp", 12.0, 80.0)
    assert h.state("dp1/dp:low_action") is AlarmState.RTN_UNACK


@pytest.mark.parametrize(("tick", "alarm"), [(119.9, False), (120.0, True)])
def test_door_held_open(tmp_path: Path, tick: float, alarm: bool) -> None:
    h = door_harness(tmp_path)
    h.feed("dp1/door", 1.0, 0.0)
    events = h.tick(tick)
    assert [e.rule for e in events] == (["door_held_open"] if alarm else [])
    if alarm:
        h.feed("dp1/door", 0.0, 130.0)
        assert h.state("dp1/door:door_held_open") is AlarmState.RTN_UNACK


# --- bad input ---------------------------------------------------------------------------------

BAD = [
    (math.nan, Quality.GOOD), (math.inf, Quality.GOOD), (-math.inf, Quality.GOOD),
    (None, Quality.GOOD), ("30", Quality.GOOD), (30.0, Quality.COMM_ERROR),
    (30.0, Quality.DEVICE_FAULT), (30.0, Quality.OUT_OF_RANGE), (30.0, Quality.STALE),
    (30.0, Quality.INVALID), (30.0, Quality.MAINTENANCE),
]


@pytest.mark.parametrize(("value", "quality"), BAD)
def test_bad_reading_never_raises(tmp_path: Path, value: object, quality: Quality) -> None:
    h = harness(tmp_path)
    assert h.feed("th1/t", value, 1.0, quality) == []
    assert h.tick(100.0) == []


@pytest.mark.parametrize(("value", "quality"), BAD)
def test_bad_reading_never_clears(tmp_path: Path, value: object, quality: Quality) -> None:
    h = harness(tmp_path)
    h.feed("th1/t", 30.0, 0.0)
    assert h.feed("th1/t", value, 1.0, quality) == []
    assert h.state(HIGH) is AlarmState.ACTIVE_UNACK


def test_bad_reading_does_not_reset_an_on_delay(tmp_path: Path) -> None:
    h = harness(tmp_path, on_delay="30s")
    h.feed("th1/t", 26.0, 0.0)
    h.feed("th1/t", math.nan, 10.0)
    assert [e.kind for e in h.tick(30.0)] == ["raised"]


def test_out_of_order_and_duplicate_readings_are_ignored_and_counted(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.feed("th1/t", 20.0, 10.0)
    assert h.feed("th1/t", 30.0, 10.0) == []  # duplicate timestamp
    assert h.feed("th1/t", 30.0, 9.0) == []  # older
    assert h.engine.counters.out_of_order == 2
    assert h.engine.counters.evaluated == 1
    assert [e.kind for e in h.feed("th1/t", 30.0, 11.0)] == ["raised"]


def test_unknown_channels_are_counted(tmp_path: Path) -> None:
    h = harness(tmp_path)
    assert h.feed("nope/x", 30.0, 1.0) == []
    assert h.engine.counters.unknown_channel == 1


def test_peak_is_tracked_and_recorded_at_intervals(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.series("th1/t", [26.0, 28.0, 27.0], step=1.0)
    h.feed("th1/t", 29.0, 70.0)  # > peak_event_interval (60 s) after the raise: recorded
    h.feed("th1/t", 29.5, 71.0)  # too soon after the last record: kept in memory only
    (cleared,) = h.feed("th1/t", 20.0, 72.0)
    assert h.kinds(HIGH) == ["raised", "peak", "cleared"]
    assert cleared.details is not None
    assert (cleared.details["peak"], cleared.details["peak_ns"]) == (29.5, at(71.0))
