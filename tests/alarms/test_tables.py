"""Alarm points made on demand: the same events as if every point were always kept, and cheap
tables at 2,000 devices (build time and memory)."""

from __future__ import annotations

import dataclasses
import gc
import time
import tracemalloc
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.configs import modbus_site, write_config
from monitor.alarms.engine import AlarmEngine
from monitor.alarms.events import AlarmEvent
from monitor.alarms.rebuild import restore
from monitor.alarms.rules import build_tables, describe
from monitor.config import LoadedConfig, load_config
from monitor.model import Quality, Reading

from . import plans
from .site import T0, at, site

RULES = [
    {"channel": "th1/t", "high_alert": 24, "high_action": 25, "low_alert": 16, "low_action": 15,
     "deadband": 0.5, "on_delay": "2s", "off_delay": "1s",
     "rate_of_change": {"max_change": 2, "per": "5s"}},
    {"channel": "th1/rh", "high_alert": 55, "high_action": 60, "latch_alert": True},
    {"channel": "pc1/p50", "high_action": "preset", "consecutive": 2, "window": 3},
    {"channel": "dp1/dp", "low_alert": 12, "low_action": 10, "on_delay": "3s"},
]
ALARMS: dict[str, Any] = {
    "limits": {"fill-1": RULES},
    "doors": [{"channel": "dp1/door", "suppress_for": "4s", "settle": "2s",
               "held_open_after": "6s"}],
    "health": {"stale_after_intervals": 3, "stale_delay": "2s", "comm_fail_delay": "2s",
               "fault_delay": "1s"},
    "require_signature_for_action": False,
}
VALUES = {"th1/t": [14.0, 15.5, 20.0, 24.2, 24.8, 25.5, 30.0],
          "th1/rh": [40.0, 56.0, 61.0],
          "pc1/p05": [100.0, 3_600.0, 400_000.0],
          "pc1/p50": [0.0, 35.0, 3_000.0],
          "dp1/dp": [8.0, 11.0, 13.0],
          "dp1/door": [0.0, 1.0]}
QUALITIES = [Quality.COMM_ERROR, Quality.DEVICE_FAULT, Quality.OUT_OF_RANGE]
KEYS = ["th1/t:high_action", "th1/t:high_alert", "th1/t:low_alert", "th1/t:rate_of_change",
        "th1/rh:high_alert", "pc1/p50:high_action", "dp1/dp:low_action", "th1/t:stale",
        "th1:comm_failure", "pc1:device_fault", "pc1/p05:high_action"]



def steps_on(channels: list[str]) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    """Random steps whose readings are of a few channels (so that excursions happen)."""
    read = st.tuples(st.just("read"),
                     st.tuples(st.sampled_from(channels), st.integers(0, 6),
                               st.sampled_from([Quality.GOOD] * 8 + QUALITIES)),
                     st.integers(-2, 4))
    tick = st.tuples(st.just("tick"), st.integers(0, 5))
    step = st.one_of(
        read, read, read, read, read, read, tick, tick,
        st.tuples(st.sampled_from(["ack", "shelve", "unshelve", "oos_on", "oos_off"]),
                  st.sampled_from(KEYS)),
        st.tuples(st.sampled_from(["maint_on", "maint_off"]),
                  st.sampled_from(["th1", "fill-1", "pc1/p50"])),
        st.tuples(st.just("state"), st.sampled_from(["at_rest", "in_operation", "auto"])),
    )
    return st.lists(step, min_size=5, max_size=80)


scenarios = st.lists(st.sampled_from(sorted(VALUES)), min_size=1, max_size=3,
                     unique=True).flatmap(steps_on)


def drive(engine: AlarmEngine, steps: list[tuple[Any, ...]]) -> list[Any]:
    """Run ``steps`` (``plans.drive``); every event and every refusal, in order."""
    return plans.drive(engine, steps, VALUES)


def eager(loaded: LoadedConfig) -> AlarmEngine:
    """The engine as it was before points were made on demand: every one made, none dropped."""
    tables = build_tables(loaded)
    list(tables.points.values())
    tables.sweep = lambda: 0  # type: ignore[method-assign]
    return AlarmEngine(tables, loaded.config.alarms, start_ns=T0, id_prefix="t-", fast=False)


def states(engine: AlarmEngine) -> list[tuple[str, str, str]]:
    return [(p.key, str(p.state), str(p.mode)) for p in engine.t.point_rows()]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=scenarios)
def test_points_made_on_demand_behave_as_points_always_kept(tmp_path: Path,
                                                            steps: list[tuple[Any, ...]]) -> None:
    loaded = site(tmp_path, alarms=ALARMS)
    lazy = AlarmEngine(build_tables(loaded), loaded.config.alarms, start_ns=T0, id_prefix="t-")
    full = eager(loaded)
    got, want = drive(lazy, steps), drive(full, steps)
    assert [e if isinstance(e, str) else e.to_json() for e in got] == [
        e if isinstance(e, str) else e.to_json() for e in want]
    assert states(lazy) == states(full)
    assert [v.to_json() for v in lazy.active()] == [v.to_json() for v in full.active()]
    # the same but for how many readings took the full path (every one, for ``full``)
    assert dataclasses.replace(lazy.counters, full=0) == dataclasses.replace(full.counters, full=0)
    # and the log rebuilds the same state into tables that make points on demand
    fresh = AlarmEngine(build_tables(loaded), loaded.config.alarms, start_ns=T0)
    restore(fresh, [e for e in got if isinstance(e, AlarmEvent)], at(10_000))
    assert [(k, s) for k, s, _ in states(fresh)] == [(k, s) for k, s, _ in states(full)]


def test_normal_readings_make_no_point_and_an_excursion_is_dropped_once_over(
        tmp_path: Path) -> None:
    loaded = site(tmp_path, alarms=ALARMS)
    engine = AlarmEngine(build_tables(loaded), loaded.config.alarms, start_ns=T0, id_prefix="t-")
    t = engine.t
    pinned = len(t.lives)  # door held-open, clock checks
    assert pinned == len(t.pinned)
    normal = {"th1/t": 20.0, "th1/rh": 40.0, "pc1/p05": 100.0, "pc1/p50": 0.0, "dp1/dp": 13.0,
              "dp1/door": 0.0}

    def second(s: int, **values: float) -> None:
        engine.evaluate([Reading(c, values.get(c.replace("/", "_"), v), Quality.GOOD, at(s))
                         for c, v in normal.items()])
        engine.tick(at(s))

    for s in range(1, 6):
        second(s)
    live = {k for k in t.lives if k not in t.pinned}
    assert live == {"th1/t:rate_of_change"}  # its window of samples is state from the first
    second(6, th1_rh=61.0)
    assert {"th1/rh:high_alert", "th1/rh:high_action"} <= set(t.lives)
    second(7)
    engine.acknowledge("th1/rh:high_action", "ann", "seen", at(8))
    engine.acknowledge("th1/rh:high_alert", "ann", "seen", at(8))
    second(8)
    assert {k for k in t.lives if k not in t.pinned} == {"th1/t:rate_of_change"}
    assert len(t.points) == t.count() == len(list(t.point_rows()))
    assert describe(t)["points"] == len(t.points)


def _describe_rule_by_rule(t: Any) -> dict[str, Any]:
    """``describe`` as it listed every rule before counting them per shared rule set."""
    rules: list[str] = []
    for dev in t.devices.values():
        rules += [s.rule for s in (dev.comm_spec, dev.fault_spec) if s is not None]
    for ch in t.channels.values():
        if ch.kind.stale_spec is not None:
            rules.append(ch.kind.stale_spec.rule)
        rules += [s.rule for s in ch.rs.specs]
    rules += [t.lives[k].rule for k in t.pinned]
    kinds: dict[str, int] = {}
    for rule in rules:
        kinds[rule] = kinds.get(rule, 0) + 1
    return {"channels": len(t.channels), "points": t.count(), "rules": kinds}


def test_describe_counts_every_rule_in_the_order_met(tmp_path: Path) -> None:
    for n, alarms in enumerate((ALARMS, {**ALARMS, "health": {"enabled": True}},
                                {**ALARMS, "limits": {"fill-1": RULES[::-1]}})):
        (tmp_path / str(n)).mkdir()
        t = build_tables(site(tmp_path / str(n), alarms=alarms))
        expected = _describe_rule_by_rule(t)
        got = describe(t)
        assert got == expected
        assert list(got["rules"]) == list(expected["rules"])  # the log line's order too


def test_a_maintained_location_lists_its_idle_points_as_suppressed(tmp_path: Path) -> None:
    loaded = site(tmp_path, alarms=ALARMS)
    engine = AlarmEngine(build_tables(loaded), loaded.config.alarms, start_ns=T0)
    engine.set_maintenance("th1", True, user="eng", reason="r", ts_ns=at(1))
    listed = {v.point for v in engine.active()}
    assert "th1/t:high_action" in listed
    assert "th1:comm_failure" in listed
    assert all(v.mode == "suppressed" for v in engine.active())
    assert not any(k.startswith("th1") for k in engine.t.lives)  # listed, not made


def test_tables_of_2000_devices_are_cheap(tmp_path: Path) -> None:
    """20,000 limits on 20,000 channels (bench.configs): was 1.2-6 s and 60-80 MB."""
    path = write_config(tmp_path / "site.yaml", modbus_site(tmp_path / "data", 2000, [5020]))
    loaded = load_config(path)
    gc.collect()
    start = time.process_time()
    tables = build_tables(loaded)
    cpu = time.process_time() - start
    assert tables.count() == 64_001 + len(tables.system)  # + the daemon's own parts
    del tables
    gc.collect()
    tracemalloc.start()
    try:
        tables = build_tables(loaded)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(tables.channels) == 20_000  # still referenced while measured
    print(f"\nbuild_tables, 2,000 devices: {cpu:.3f} s CPU, {held / 1e6:.1f} MB")
    assert cpu < 0.5
    # 8.1 MB before channels shared their settings (ChannelKind), 5.2 MB before a channel's
    # stale timeout was its kind's and its place its device's
    assert held < 5e6


def test_a_silent_site_of_2000_devices_grows_the_tables_little(tmp_path: Path) -> None:
    """Every channel of 2,000 devices going stale at once (a start-up before the first polls,
    an outage) keeps the start of each delay, not a point and condition each (was +16 MB)."""
    path = write_config(tmp_path / "site.yaml", modbus_site(tmp_path / "data", 2000, [5020]))
    loaded = load_config(path)
    engine = AlarmEngine(build_tables(loaded), loaded.config.alarms, start_ns=T0)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for s in range(1, 9):  # stale after 5 s, alarm after a further 30 s
            assert engine.tick(at(s)) == []
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert sum(isinstance(ch.stale, int) for ch in engine.t.channels.values()) == 20_000
    print(f"\n20,000 stale delays running: +{grown / 1e6:.2f} MB")
    assert grown < 2e6


def test_a_silent_site_makes_no_stale_point_until_its_alarm_is_due(tmp_path: Path) -> None:
    """A site that stops reporting keeps only the start of each stale delay (``stale``'s
    dormant conditions), and raises the same alarms at the same times as the full engine."""
    loaded = site(tmp_path, alarms=ALARMS)
    fast = AlarmEngine(build_tables(loaded), loaded.config.alarms, start_ns=T0, id_prefix="t-")
    full = AlarmEngine(build_tables(loaded), loaded.config.alarms, start_ns=T0, id_prefix="t-",
                       fast=False)
    got: list[AlarmEvent] = []
    want: list[AlarmEvent] = []
    dormant_seen = False
    for s in range(1, 121):
        got += fast.tick(at(s))
        want += full.tick(at(s))
        dormant = [ch.id for ch in fast.t.channels.values() if isinstance(ch.stale, int)]
        dormant_seen = dormant_seen or bool(dormant)
        for cid in dormant:  # no object for it, while the full engine has one pending
            assert f"{cid}:stale" not in fast.t.lives
            assert full.t.conditions[f"{cid}:stale"].pending_on is not None
    assert dormant_seen
    raised = [e for e in got if e.kind == "raised" and e.rule == "stale"]
    assert len(raised) == len(fast.t.channels)
    assert [e.to_json() for e in got] == [e.to_json() for e in want]
    got = fast.evaluate([Reading(c, 20.0, Quality.GOOD, at(121)) for c in fast.t.channels])
    want = full.evaluate([Reading(c, 20.0, Quality.GOOD, at(121)) for c in full.t.channels])
    assert [e.to_json() for e in got] == [e.to_json() for e in want]


def test_a_channel_knows_its_place_when_its_devices_channels_are_not_consecutive(
        tmp_path: Path) -> None:
    """A channel's place in the configuration (``Tables.index_of``) is found through its
    device; a device whose channels are listed apart keeps each one's place, and the points
    made on demand come out in configuration order either way."""
    loaded = site(tmp_path, alarms=ALARMS)
    ids = list(loaded.channels)
    apart = ids[::2] + ids[1::2]
    mixed = LoadedConfig(loaded.config, loaded.path, loaded.sha256, loaded.text,
                         {c: loaded.channels[c] for c in apart}, loaded.locations)
    for cfg, listed_apart in ((loaded, False), (mixed, True)):
        t = build_tables(cfg)
        assert [t.index_of(ch) for ch in t.channels.values()] == list(range(len(t.channels)))
        assert any(d.indexes is not None for d in t.devices.values()) is listed_apart
        list(t.points.values())  # every point made
        stale = [p.channel for p in t.live_points() if p.rule == "stale"]
        assert stale == [c for c, ch in t.channels.items() if ch.stale_spec is not None]
        assert len(stale) == len(t.channels)
