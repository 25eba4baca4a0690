"""The engine's shortcuts give the same events as the full path, and are taken where they should.

``EngineCore(fast=True)`` (the default) lets a good reading within its
channel's fast band skip the state machine and lets the tick look only where
something can be due; ``fast=False`` takes the full path for every reading and
looks at everything at every tick. A hypothesis property drives both (and an
engine that keeps every point, as before points were made on demand) with
random readings near every limit, bad values, health problems, doors, a
location input with a clean-up period and a schedule, clock steps and
operator actions, and asks for the same events, states and counters.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.alarms.engine import AlarmEngine
from monitor.alarms.rules import build_tables
from monitor.config import LoadedConfig
from monitor.model import Quality, Reading

from . import plans
from .plans import as_json
from .site import BASE, T0, at, site

RULES = [
    {"channel": "th1/t", "high_alert": 24, "high_action": 25, "low_alert": 16, "low_action": 15,
     "deadband": 0.5, "on_delay": "2s", "off_delay": "1s",
     "rate_of_change": {"max_change": 2, "per": "5s"}},
    {"channel": "th1/rh", "high_alert": 55, "high_action": 60, "latch_alert": True},
    {"channel": "pc1/p50", "high_action": "preset", "consecutive": 2, "window": 3},
    {"channel": "dp1/dp", "low_alert": 12, "low_action": 10, "on_delay": "3s", "deadband": 0.5},
]
ALARMS: dict[str, Any] = {
    "limits": {"fill-1": RULES},
    "doors": [{"channel": "dp1/door", "suppress_for": "4s", "settle": "2s",
               "held_open_after": "6s"}],
    "health": {"stale_after_intervals": 3, "stale_delay": "2s", "comm_fail_delay": "2s",
               "fault_delay": "1s"},
    "preset_alert_fraction": 0.5,
    "require_signature_for_action": False,
}
NAN, INF = math.nan, math.inf
VALUES: dict[str, list[Any]] = {
    "th1/t": [20.0, 20.0, 20, 14.0, 15.0, 15.2, 15.5, 16.0, 23.6, 24.0, 24.2, 24.5, 25.0, 25.5,
              30.0, NAN, INF, None, True],
    "th1/rh": [40.0, 40.0, 55.0, 56.0, 60.0, 61.0, -INF],
    "pc1/p05": [100.0, 100.0, 1_760.0, 1_761.0, 3_520.0, 3_521.0, 400_000.0, 176_001.0],
    "pc1/p50": [0.0, 0.0, 14.5, 15.0, 29.0, 30.0, 3_000.0],
    "dp1/dp": [15.0, 15.0, 8.0, 10.0, 11.0, 12.0, 12.4, 12.5, 13.0],
    "dp1/door": [0.0, 0.0, 0.0, -0.0, 1.0, 0],
    "plc1/running": [0.0, 1.0, 1.0],
}
CHANNELS = sorted(VALUES)
QUALITIES = [Quality.GOOD] * 10 + [Quality.COMM_ERROR, Quality.DEVICE_FAULT,
                                    Quality.OUT_OF_RANGE, Quality.MAINTENANCE, Quality.INVALID]
KEYS = ["th1/t:high_action", "th1/t:high_alert", "th1/t:low_alert", "th1/t:rate_of_change",
        "th1/rh:high_alert", "pc1/p50:high_action", "dp1/dp:low_action", "th1/t:stale",
        "th1:comm_failure", "pc1:device_fault", "pc1/p05:high_action", "dp1/door:door_held_open"]


def gmp_site(tmp_path: Path, *, schedule: bool = True) -> LoadedConfig:
    """The base site plus a "production running" contact driving fill-1's state."""
    profiles = copy.deepcopy(BASE["profiles"])
    profiles["plc"] = {"kind": "generic", "family": "generic", "source": "generic",
                       "channels": [{"name": "running", "quantity": "status", "unit": "1",
                                     "address": 0}]}
    devices = [*copy.deepcopy(BASE["devices"]),
               {"name": "plc1", "connection": "gw", "location": "fill-1", "profile": "plc",
                "unit_id": 4, "poll_interval": "1s"}]
    state: dict[str, Any] = {"default": "at_rest", "input": "plc1/running", "clean_up": "5s"}
    if schedule:
        state["schedule"] = [{"days": ["fri"], "start": "08:01", "end": "08:03",
                              "state": "in_operation"}]
    rooms = [{"name": "fill", "grade": "B", "locations": [{"name": "fill-1", "state": state}]}]
    return site(tmp_path, alarms=ALARMS, rooms=rooms, profiles=profiles, devices=devices)


def engines(loaded: LoadedConfig) -> tuple[AlarmEngine, AlarmEngine, AlarmEngine]:
    """(fast, full path, full path keeping every point)."""
    fast = AlarmEngine(build_tables(loaded), loaded.config.alarms, start_ns=T0, id_prefix="t-")
    full = AlarmEngine(build_tables(loaded), loaded.config.alarms, start_ns=T0, id_prefix="t-",
                       fast=False)
    tables = build_tables(loaded)
    list(tables.points.values())
    tables.sweep = lambda: 0  # type: ignore[method-assign]
    kept = AlarmEngine(tables, loaded.config.alarms, start_ns=T0, id_prefix="t-", fast=False)
    return fast, full, kept


reading = st.tuples(st.sampled_from(CHANNELS), st.integers(0, 18), st.sampled_from(QUALITIES))
mostly_normal = st.tuples(st.one_of(st.just(0), st.just(0), st.just(0), st.integers(0, 18)),
                          st.one_of(st.just(Quality.GOOD), st.just(Quality.GOOD),
                                    st.sampled_from(QUALITIES)))
steps = st.lists(st.one_of(
    st.tuples(st.just("second"), st.lists(mostly_normal, min_size=len(CHANNELS),
                                          max_size=len(CHANNELS)), st.booleans()),
    st.tuples(st.just("second"), st.lists(mostly_normal, min_size=len(CHANNELS),
                                          max_size=len(CHANNELS)), st.booleans()),
    st.tuples(st.just("read"), reading, st.integers(-1, 3)),
    st.tuples(st.just("read"), reading, st.integers(-1, 3)),
    st.tuples(st.just("batch"), st.lists(reading, min_size=1, max_size=7), st.integers(0, 2)),
    st.tuples(st.just("batch"), st.lists(reading, min_size=1, max_size=7), st.integers(0, 2)),
    st.tuples(st.just("quiet"), st.integers(1, 12)),
    st.tuples(st.just("tick"), st.integers(0, 4)),
    st.tuples(st.just("back"), st.sampled_from([7, 30])),
    st.tuples(st.sampled_from(["ack", "shelve", "unshelve", "oos_on", "oos_off"]),
              st.sampled_from(KEYS)),
    st.tuples(st.sampled_from(["maint_on", "maint_off"]),
              st.sampled_from(["th1", "fill-1", "dp1/dp"])),
    st.tuples(st.just("state"), st.sampled_from(["at_rest", "in_operation", "auto"]),
              st.just(9)),
), min_size=5, max_size=70)


def drive(engine: AlarmEngine, plan: list[tuple[Any, ...]]) -> list[Any]:
    """Run the plan (``plans.drive``); every event (as JSON) and every refusal, in order."""
    return as_json(plans.drive(engine, plan, VALUES))


def counters(engine: AlarmEngine) -> dict[str, int]:
    c = dataclasses.asdict(engine.counters)
    del c["full"]
    return c


def states(engine: AlarmEngine) -> list[tuple[str, str, str]]:
    return [(p.key, str(p.state), str(p.mode)) for p in engine.t.point_rows()]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plan=steps)
def test_fast_path_gives_the_events_of_the_full_path(tmp_path: Path,
                                                     plan: list[tuple[Any, ...]]) -> None:
    loaded = gmp_site(tmp_path)
    fast, full, kept = engines(loaded)
    got, want, kept_want = drive(fast, plan), drive(full, plan), drive(kept, plan)
    assert got == want
    assert got == kept_want
    assert states(fast) == states(full) == states(kept)
    assert [v.to_json() for v in fast.active()] == [v.to_json() for v in full.active()]
    assert counters(fast) == counters(full) == counters(kept)
    assert full.counters.full == full.counters.evaluated
    for ch in fast.t.channels.values():  # last-seen times kept by the fast path as by the full
        other = full.t.channels[ch.id]
        assert (ch.last_ts, ch.last_good_ts) == (other.last_ts, other.last_good_ts)


def test_readings_within_limits_skip_the_state_machine(tmp_path: Path) -> None:
    fast, full, _ = engines(gmp_site(tmp_path))
    plan: list[tuple[Any, ...]] = [("quiet", 10)]
    assert drive(fast, plan) == drive(full, plan)
    # every reading of the 10 s was in limits; th1/t's rate-of-change rule is always live and
    # the location input's every value is applied: those two take the full path
    assert fast.counters.evaluated == 70
    assert fast.counters.full == 20
    t, dp, door, plc = (fast.t.channels[c] for c in ("th1/t", "dp1/dp", "dp1/door",
                                                      "plc1/running"))
    assert t.lo > t.hi
    assert plc.lo > plc.hi
    assert (dp.lo, dp.hi) == (12.0, sys.float_info.max)  # low alert 12: no NaN, no infinity
    assert (door.lo, door.hi) == (0.0, 0.0)  # closed while 0
    fast.evaluate([Reading("dp1/dp", 11.9, Quality.GOOD, at(11))])  # below the alert limit
    assert fast.counters.full == 21
    assert dp.lo > dp.hi  # its rule is live (on-delay running) until it is idle again
    fast.evaluate([Reading("dp1/dp", 15.0, Quality.GOOD, at(12))])
    assert fast.counters.full == 22
    fast.tick(at(12.5))  # idle: dropped, the band is back
    assert (dp.lo, dp.hi) == (12.0, sys.float_info.max)
    fast.evaluate([Reading("dp1/door", 1.0, Quality.GOOD, at(13))])  # the door opens
    assert door.lo > door.hi
    for i, bad in enumerate((NAN, INF, -INF, None, "12")):  # never within a band
        before = fast.counters.bad_value
        fast.evaluate([Reading("pc1/p05", bad, Quality.GOOD, at(14 + i))])
        assert fast.counters.bad_value == before + 1


def test_the_tick_looks_only_where_something_can_be_due(tmp_path: Path) -> None:
    """At 2,000 devices (bench.configs), readings every second: a channel is looked at for
    stale data about once in its stale time less a poll, not every second."""
    from bench.configs import modbus_site, write_config
    from monitor.config import load_config

    doc = modbus_site(tmp_path / "data", 2000, [1502])
    loaded = load_config(write_config(tmp_path / "big.yaml", doc))
    engine = AlarmEngine(build_tables(loaded), loaded.config.alarms, start_ns=T0)
    ids = list(loaded.channels)
    for s in range(1, 31):
        engine.evaluate([Reading(c, 50.0, Quality.GOOD, at(s)) for c in ids])
        assert engine.tick(at(s + 0.5)) == []
    scan = engine._stale_scan
    assert engine.counters.full == 0
    # stale after 5 intervals (5 s): each channel scanned every ~4 s, not 30 times
    assert scan.scanned <= len(ids) * 9
    assert engine.timers == {}
    assert not engine.t.refs  # no point made on demand


def _both(loaded: LoadedConfig, plan: list[tuple[Any, ...]]) -> list[Any]:
    fast, full, kept = engines(loaded)
    got = drive(fast, plan)
    assert got == drive(full, plan) == drive(kept, plan)
    return got


def _raised(events: list[Any]) -> list[tuple[str, int]]:
    return [(e["point"], e["ts_ns"]) for e in events
            if isinstance(e, dict) and e["kind"] == "raised"]


def test_a_band_follows_the_location_state(tmp_path: Path) -> None:
    """In operation the particle band is 100x wider; back at rest it narrows at once."""
    plan: list[tuple[Any, ...]] = [
        ("state", "in_operation", 9),
        ("read", ("pc1/p05", 7, Quality.GOOD), 1),  # 176,001: above the in-operation alert
        ("read", ("pc1/p05", 0, Quality.GOOD), 1),
        ("ack", "pc1/p05:high_alert"),
        ("tick", 1),  # the alert rule idle again: dropped, the band is the in-operation one
        ("read", ("pc1/p05", 5, Quality.GOOD), 1),  # 3,521: fine in operation
        ("state", "at_rest", 9),
        ("read", ("pc1/p05", 5, Quality.GOOD), 1),  # 3,521: above both at-rest limits
    ]
    got = _both(gmp_site(tmp_path), plan)
    assert [p for p, _ in _raised(got)] == ["pc1/p05:high_alert", "pc1/p05:high_alert",
                                             "pc1/p05:high_action"]


def test_a_reading_stamped_before_the_start_counts_for_stale_data(tmp_path: Path) -> None:
    """A channel's first reading may be older than the engine's start: its stale time is
    counted from that reading, not from the start, even if a tick saw the channel unread."""
    alarms = {**ALARMS, "limits": {}, "doors": []}
    loaded = site(tmp_path, alarms=alarms)
    fast, full, _ = engines(loaded)
    out: dict[str, list[Any]] = {"fast": [], "full": []}
    for name, engine in (("fast", fast), ("full", full)):
        events = out[name]
        events += engine.tick(at(0.5))
        events += engine.evaluate([Reading("th1/t", 20.0, Quality.GOOD, at(-2.5))])
        for k in range(1, 9):
            events += engine.tick(at(0.5 + k / 4))  # to 2.5 s
        events += engine.evaluate([Reading("th1/t", 20.0, Quality.GOOD, at(2.75))])
        for k in range(1, 40):
            events += engine.tick(at(2.75 + k / 4))
    assert [e.to_json() for e in out["fast"]] == [e.to_json() for e in out["full"]]
    kinds = [(e.point, str(e.kind), e.ts_ns) for e in out["fast"] if e.point == "th1/t:stale"]
    # 3 intervals, then the 2 s delay, from the reading's time; raised by the tick at 2.5 s
    assert kinds[:2] == [("th1/t:stale", "raised", at(-2.5 + 3 + 2)),
                         ("th1/t:stale", "cleared", at(2.75))]
    raised = {e.point: e.ts_ns for e in out["fast"] if e.kind == "raised"}
    assert raised["th1/rh:stale"] == at(0 + 3 + 2)  # never read: counted from the start


def test_stale_data_after_a_clock_step_back(tmp_path: Path) -> None:
    """Every channel's last good time moves with a step; the scan bounds move with it."""
    plan: list[tuple[Any, ...]] = [("quiet", 6), ("back", 30), ("quiet", 3),
                                   ("read", ("th1/t", 0, Quality.GOOD), 1)]
    plan += [("tick", 1)] * 8
    got = _both(gmp_site(tmp_path), plan)
    assert any(isinstance(e, dict) and e["kind"] == "clock_step" for e in got)
    assert {p for p, _ in _raised(got)} >= {"pc1/p05:stale", "th1/rh:stale"}


def test_clean_up_and_manual_expiry_are_seen_by_the_tick(tmp_path: Path) -> None:
    """A location with no schedule is asked by the tick only while a clean-up period or a
    manual state runs; both still end on time."""
    loaded = gmp_site(tmp_path, schedule=False)
    plan: list[tuple[Any, ...]] = [("quiet", 2), ("read", (("plc1/running", 1, Quality.GOOD)), 1),
                                   ("read", (("plc1/running", 0, Quality.GOOD)), 1)]
    plan += [("tick", 1)] * 7
    plan += [("state", "in_operation", 9)]  # manual, until 9 s later
    plan += [("tick", 1)] * 16
    got = _both(loaded, plan)
    states = [(e["location_state"], e["ts_ns"]) for e in got
              if isinstance(e, dict) and e["kind"] == "location_state"]
    # the manual state expires at 20 s; the input says at rest, after the clean-up period
    assert states[-4:] == [("in_operation", at(3)), ("at_rest", at(4 + 5)),
                           ("in_operation", at(11)), ("at_rest", at(20 + 5))]


def test_a_rate_rule_sees_every_sample_while_another_rule_is_live(tmp_path: Path) -> None:
    """th1/t's high alert made live by an operator (shelved) before any reading: the rate of
    change rule must still be made at the first sample and see every one after it."""
    plan: list[tuple[Any, ...]] = [("shelve", "th1/t:high_alert")]
    plan += [("read", ("th1/t", i, Quality.GOOD), 1) for i in (0, 0, 8, 9, 9)]  # 20 -> 23.6 -> 24
    got = _both(gmp_site(tmp_path), plan)
    assert [p for p, _ in _raised(got)] == ["th1/t:rate_of_change"]
