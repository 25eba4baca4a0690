"""Health alarms (stale data, communication failure, device fault) at their boundaries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.alarms.events import AlarmState, Level
from monitor.model import Quality

from .site import Harness, at, site

STALE = "th1/t:stale"
COMM = "th1:comm_failure"
FAULT = "th1:device_fault"


def harness(tmp_path: Path, **health: Any) -> Harness:
    cfg = {"stale_after_intervals": 5, "stale_delay": "30s", "comm_fail_delay": "30s",
           "fault_delay": "10s", **health}
    return Harness(site(tmp_path, alarms={"health": cfg, "auto_presets": False}))


def only(h: Harness, key: str) -> list[str]:
    return h.kinds(key)


@pytest.mark.parametrize(("tick", "alarm"), [(34.9, False), (35.0, True)])
def test_stale_after_k_intervals_plus_delay(tmp_path: Path, tick: float, alarm: bool) -> None:
    h = harness(tmp_path)
    h.feed("th1/t", 20.0, 0.0)  # 1 s poll: stale from 5 s, alarm 30 s later
    h.tick(tick)
    assert (only(h, STALE) == ["raised"]) is alarm
    if alarm:
        raised = next(e for e in h.events if e.point == STALE)
        assert (raised.ts_ns, raised.level, raised.priority) == (at(35.0), Level.HEALTH, "high")
        assert raised.details is not None
        assert raised.details["start_ns"] == at(5.0)


def test_stale_counts_from_start_for_a_channel_that_never_reported(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.tick(34.9)
    assert only(h, STALE) == []
    h.tick(35.0)
    assert only(h, STALE) == ["raised"]


def test_a_good_reading_in_time_prevents_stale(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.feed("th1/t", 20.0, 0.0)
    h.tick(20.0)  # stale since 5 s, delay running
    h.feed("th1/t", 20.0, 34.9)
    h.tick(60.0)
    assert only(h, STALE) == []


@pytest.mark.parametrize(("quality", "value"), [
    (Quality.INVALID, 1.0), (Quality.GOOD, float("nan")), (Quality.STALE, 1.0),
    (Quality.DEVICE_FAULT, 1.0),
])
def test_bad_readings_count_towards_stale(tmp_path: Path, quality: Quality,
                                           value: float) -> None:
    h = harness(tmp_path)
    h.feed("th1/t", 20.0, 0.0)
    for t in range(1, 36):
        h.feed("th1/t", value, float(t), quality)
    h.tick(35.0)
    assert only(h, STALE) == ["raised"]


def test_stale_clears_on_the_next_good_reading(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.tick(40.0)
    (cleared,) = [e for e in h.feed("th1/t", 20.0, 41.0) if e.point == STALE]
    assert (cleared.kind, cleared.state) == ("cleared", AlarmState.RTN_UNACK)


def test_maintenance_quality_is_not_stale(tmp_path: Path) -> None:
    h = harness(tmp_path)
    for t in range(0, 60):
        h.feed("th1/t", 20.0, float(t), Quality.MAINTENANCE)
    h.tick(60.0)
    assert only(h, STALE) == []


@pytest.mark.parametrize(("last_error", "alarm"), [(29.9, False), (30.0, True)])
def test_comm_failure_delay(tmp_path: Path, last_error: float, alarm: bool) -> None:
    h = harness(tmp_path)
    t = 0.0
    while t <= last_error:
        h.feed("th1/t", None, t, Quality.COMM_ERROR, detail="timeout")
        t = round(t + 0.1, 1)
    assert (only(h, COMM) == ["raised"]) is alarm


def test_comm_failure_detail_and_clear(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.feed("th1/t", None, 0.0, Quality.COMM_ERROR, detail="connection refused")
    (raised,) = [e for e in h.tick(30.0) if e.point == COMM]
    assert raised.details is not None
    assert raised.details["detail"] == "connection refused"
    (cleared,) = [e for e in h.feed("th1/rh", 40.0, 31.0) if e.point == COMM]
    assert cleared.kind == "cleared"


def test_one_good_reading_resets_the_comm_delay(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.feed("th1/t", None, 0.0, Quality.COMM_ERROR)
    h.feed("th1/t", 20.0, 20.0)
    h.feed("th1/t", None, 21.0, Quality.COMM_ERROR)
    h.tick(50.9)
    assert only(h, COMM) == []
    h.tick(51.0)
    assert only(h, COMM) == ["raised"]


def test_stale_is_suppressed_by_design_while_the_device_is_unreachable(tmp_path: Path) -> None:
    h = harness(tmp_path, stale_delay="60s")
    for t in range(0, 200):
        h.feed("th1/t", None, float(t), Quality.COMM_ERROR)
        h.feed("th1/rh", None, float(t), Quality.COMM_ERROR)
        h.tick(float(t))
    assert only(h, COMM) == ["raised"]
    assert only(h, STALE) == []  # one alarm for one problem


@pytest.mark.parametrize(("tick", "alarm"), [(9.9, False), (10.0, True)])
def test_device_fault_delay(tmp_path: Path, tick: float, alarm: bool) -> None:
    h = harness(tmp_path)
    h.feed("th1/t", 20.0, 0.0, Quality.DEVICE_FAULT, detail="sensor fault")
    h.tick(tick)
    assert (only(h, FAULT) == ["raised"]) is alarm


def test_device_fault_lasts_while_any_channel_reports_it(tmp_path: Path) -> None:
    h = harness(tmp_path, fault_delay="0s")
    h.feed("th1/t", 20.0, 0.0, Quality.OUT_OF_RANGE, detail="above range")
    h.feed("th1/rh", 20.0, 0.0, Quality.DEVICE_FAULT)
    (raised,) = [e for e in h.events if e.point == FAULT]
    assert raised.details is not None
    assert raised.details["detail"] == "th1/t: above range"
    h.feed("th1/t", 20.0, 1.0)
    assert h.state(FAULT) is AlarmState.ACTIVE_UNACK
    h.feed("th1/t", 20.0, 1.5, Quality.COMM_ERROR)  # unknown: neither faulted nor fine
    h.feed("th1/rh", 20.0, 2.0)
    assert h.state(FAULT) is AlarmState.RTN_UNACK


def test_per_device_overrides(tmp_path: Path) -> None:
    h = harness(tmp_path, devices={"th1": {"expected_interval": "60s",
                                           "stale_after_intervals": 2, "stale_delay": "0s"}})
    h.feed("th1/t", 20.0, 0.0)
    h.tick(119.9)
    assert only(h, STALE) == []
    h.tick(120.0)
    assert only(h, STALE) == ["raised"]


def test_health_can_be_disabled_per_device(tmp_path: Path) -> None:
    h = harness(tmp_path, devices={"th1": {"enabled": False}})
    assert STALE not in h.engine.t.points
    assert COMM not in h.engine.t.points


def test_particle_counters_expect_one_record_per_sample(tmp_path: Path) -> None:
    from .site import BASE

    profiles = dict(BASE["profiles"])
    profiles["pc"] = {**profiles["pc"], "kind": "particle_counter", "particle_counter": {}}
    loaded = site(tmp_path, profiles=profiles,
                  alarms={"health": {"stale_delay": "0s"}, "auto_presets": False})
    h = Harness(loaded)
    h.feed("pc1/p05", 100.0, 0.0)
    h.tick(299.9)  # 5 x 60 s
    assert only(h, "pc1/p05:stale") == []
    h.tick(300.0)
    assert only(h, "pc1/p05:stale") == ["raised"]


def test_devices_without_settings_of_their_own_share_what_each_would_get(
        tmp_path: Path) -> None:
    """Timings and health rules worked out once for devices alike are each device's own."""
    from monitor.alarms import rules

    from .site import BASE

    profiles = dict(BASE["profiles"])
    profiles["pc"] = {**profiles["pc"], "kind": "particle_counter", "particle_counter": {}}
    devices = [dict(d) for d in BASE["devices"]]
    for n, (profile, every) in enumerate([("pc", "1s"), ("th", "1s"), ("th", "5s"),
                                          ("pc", "5s"), ("dp", "2s"), ("th", "1s")]):
        devices.append({"name": f"x{n}", "connection": "gw", "location": "fill-1",
                        "profile": profile, "unit_id": 10 + n, "poll_interval": every})
    health = {"stale_delay": "3s", "devices": {
        "x1": {"stale_after_intervals": 2, "comm_fail_delay": "1s"},
        "x2": {"enabled": False}, "x3": {"expected_interval": "7s"}, "th1": {"fault_delay": "2s"}}}
    loaded = site(tmp_path, profiles=profiles, devices=devices,
                  alarms={"health": health, "auto_presets": False})
    tables = rules.build_tables(loaded)
    acfg = loaded.config.alarms
    for cid, ch in tables.channels.items():
        info = loaded.channels[cid]
        alone = rules._Builder(loaded)  # nothing worked out before: this device's own
        device_cfg = next(d for d in loaded.config.devices if d.name == info.device)
        timing = rules._timing(alone, info, acfg, device_cfg,
                               acfg.health.devices.get(info.device))
        kind = ch.kind
        assert (kind.poll_ns, kind.step_ns, kind.stale_ns) == timing[:3], cid
        got, want = kind.stale_spec, timing[3]
        assert (got is None) == (want is None), cid
        if got is not None and want is not None:
            assert (got.rule, got.priority, got.on_ns, dict(got.settings), got.threshold) == (
                want.rule, want.priority, want.on_ns, dict(want.settings), want.threshold), cid
    for name, dev in tables.devices.items():
        alone = rules._Builder(loaded)
        own = rules.DeviceRt(name, dev.location, 0)
        rules._device_health(alone, own, acfg)
        for got, want in ((dev.comm_spec, own.comm_spec), (dev.fault_spec, own.fault_spec)):
            assert (got is None) == (want is None), name
            if got is not None and want is not None:
                assert (got.rule, got.on_ns, dict(got.settings)) == (
                    want.rule, want.on_ns, dict(want.settings)), name
