"""System conditions on the alarm service: on-delay, since, clear, acknowledge, restart, refusals.

The parts themselves (a full disk, a sink that cannot write, a notifier that
cannot deliver) are in ``test_system_health.py``; here the service is driven
with reports on a fake clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.alarms.events import AlarmState, EventKind, Level
from monitor.alarms.service import AlarmService, build_alarm_service
from monitor.config import LoadedConfig
from monitor.errors import AlarmError

from .site import at, site

DISK = "store:embedded:disk"
DOWN = "sink:vm:down"
HOOK = "notifier:hook:failing"
SYSTEM = {"delay": "30s", "sink_down_after": "60s", "notifier_failing_after": "20s"}


class Clock:
    def __init__(self) -> None:
        self.t = at(0)

    def __call__(self) -> int:
        return self.t


def loaded_site(tmp_path: Path, **system: Any) -> LoadedConfig:
    return site(tmp_path, alarms={"health": {"enabled": False}, "auto_presets": False,
                                  "system": {**SYSTEM, **system}},
                storage={"sinks": [{"name": "vm", "type": "influxdb_v2",
                                    "url": "http://127.0.0.1:9", "max_pending": 10_000,
                                    "warn_ratio": 0.25}]},
                notify={"notifiers": [{"name": "hook", "kind": "webhook",
                                       "url": "http://127.0.0.1:9/hook"}]})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(tmp_path: Path, clock: Clock) -> Iterator[AlarmService]:
    service = build_alarm_service(loaded_site(tmp_path), clock=clock)
    yield service
    service.close()


def report(service: AlarmService, point: str, active: bool, t: float,
           **kw: Any) -> list[Any]:
    return [e for e in service.set_condition(point, active, kw.pop("detail", "d"), now_ns=at(t),
                                             **kw) if e.point == point]


def test_the_configured_parts_have_points_from_the_start(svc: AlarmService) -> None:
    points = svc.engine.t.points
    for key in (DISK, "store:embedded:space", "store:embedded:memory", "store:embedded:lost",
                "store:alarm_log:write", DOWN, "sink:vm:outbox", "sink:vm:skipped",
                "sink:vm:quarantine", HOOK):
        point = points[key]
        assert (point.level, point.device, point.location, point.latching) == (
            Level.HEALTH, "daemon", "", False)
    assert points["sink:vm:outbox"].channel == "sink:vm"
    assert svc.engine.t.conditions["sink:vm:outbox"].limit_now() == 2500.0  # 25 % of 10,000


def test_a_blip_shorter_than_the_delay_raises_nothing(svc: AlarmService) -> None:
    assert report(svc, DISK, True, 0) == []
    assert report(svc, DISK, True, 29.9) == []
    assert report(svc, DISK, False, 29.95) == []
    assert report(svc, DISK, True, 40) == []
    assert report(svc, DISK, True, 69.9) == []
    (raised,) = report(svc, DISK, True, 70, detail="readings database: disk full", value=123.0)
    assert (raised.kind, raised.ts_ns, raised.state) == (EventKind.RAISED, at(70),
                                                        AlarmState.ACTIVE_UNACK)
    assert (raised.level, raised.priority, raised.value, raised.location) == (
        Level.HEALTH, "high", 123.0, "")
    assert raised.details is not None
    assert raised.details["start_ns"] == at(40)
    assert raised.details["detail"] == "readings database: disk full"
    assert raised.details["settings"]["on_delay_s"] == 30.0
    assert raised.notify
    assert [v.point for v in svc.active()] == [DISK]


def test_clear_waits_for_acknowledgement(svc: AlarmService) -> None:
    report(svc, DISK, True, 0)
    report(svc, DISK, True, 30)
    (cleared,) = report(svc, DISK, False, 45)
    assert (cleared.kind, cleared.state) == (EventKind.CLEARED, AlarmState.RTN_UNACK)
    svc.acknowledge(DISK, "ann", "disk replaced")
    assert svc.engine.t.points[DISK].state is AlarmState.NORMAL
    assert svc.active() == []


def test_the_delay_runs_from_when_the_part_says_the_problem_began(svc: AlarmService) -> None:
    """A sink failing since 0 s, first seen at 50 s: raised at 60 s, stamped 60 s."""
    assert report(svc, DOWN, True, 50, since_ns=at(0)) == []
    (raised,) = report(svc, DOWN, True, 65, since_ns=at(0))
    assert raised.ts_ns == at(60)
    assert raised.details is not None
    assert raised.details["start_ns"] == at(0)


def test_a_start_before_the_last_report_that_it_held_not_is_not_believed(
        svc: AlarmService) -> None:
    report(svc, HOOK, False, 100)
    assert report(svc, HOOK, True, 110, since_ns=at(0)) == []  # 20 s from 100 s, not from 0 s
    (raised,) = report(svc, HOOK, True, 125, since_ns=at(0))
    assert raised.ts_ns == at(120)


def test_a_condition_survives_a_restart(tmp_path: Path, clock: Clock) -> None:
    loaded = loaded_site(tmp_path)
    first = build_alarm_service(loaded, clock=clock)
    report(first, DOWN, True, 0)
    (raised,) = report(first, DOWN, True, 60)
    first.close()
    clock.t = at(100)
    second = build_alarm_service(loaded, clock=clock)
    try:
        point = second.engine.t.points[DOWN]
        assert (point.state, point.alarm_id) == (AlarmState.ACTIVE_UNACK, raised.alarm_id)
        assert report(second, DOWN, True, 101) == []  # still holds: no second alarm
        (cleared,) = report(second, DOWN, False, 102)
        assert (cleared.alarm_id, cleared.state) == (raised.alarm_id, AlarmState.RTN_UNACK)
    finally:
        second.close()


def test_a_point_no_configuration_declares_is_made_and_retired_at_restart(
        tmp_path: Path, clock: Clock) -> None:
    loaded = loaded_site(tmp_path)
    first = build_alarm_service(loaded, clock=clock)
    (raised,) = report(first, "plc:link:down", True, 5, priority="critical", on_delay_s=0,
                       detail="PLC link lost")
    assert (raised.priority, raised.channel, raised.rule) == ("critical", "plc:link", "down")
    first.close()
    second = build_alarm_service(loaded, clock=clock)
    try:
        point = second.engine.t.points["plc:link:down"]  # retired: the caller must say again
        assert (point.state, point.alarm_id) == (AlarmState.RTN_UNACK, raised.alarm_id)
        (again,) = report(second, "plc:link:down", True, 10, on_delay_s=0)
        assert (again.kind, again.alarm_id) == (EventKind.RAISED, raised.alarm_id)
    finally:
        second.close()


def test_a_removed_sink_retires_its_points(tmp_path: Path, clock: Clock) -> None:
    first = build_alarm_service(loaded_site(tmp_path), clock=clock)
    report(first, DOWN, True, 0)
    report(first, DOWN, True, 60)
    first.close()
    without = site(tmp_path, alarms={"health": {"enabled": False}, "system": SYSTEM},
                   name="other.yaml")
    second = build_alarm_service(without, clock=clock)
    try:
        retired = [e for e in second.events() if e.kind is EventKind.RETIRED]
        assert [e.point for e in retired] == [DOWN]
        assert DOWN not in second.engine.t.system
    finally:
        second.close()


@pytest.mark.parametrize("point", ["pc1/p05:high_action", "th1:comm_failure", "nocolon"])
def test_a_rule_of_the_configuration_is_no_system_condition(tmp_path: Path, clock: Clock,
                                                             point: str) -> None:
    loaded = site(tmp_path, alarms={"system": SYSTEM})
    service = build_alarm_service(loaded, clock=clock)
    try:
        with pytest.raises(AlarmError):
            service.set_condition(point, True, "x", now_ns=at(1))
    finally:
        service.close()


def test_disabled_system_alarms_declare_no_points(tmp_path: Path, clock: Clock) -> None:
    service = build_alarm_service(loaded_site(tmp_path, enabled=False), clock=clock)
    try:
        assert service.engine.t.system == {}
        assert DISK not in service.engine.t.points
    finally:
        service.close()


def test_a_start_from_before_a_clock_step_is_not_believed(tmp_path: Path, clock: Clock) -> None:
    """A part's time from before the host clock jumped an hour forward is an hour "old"."""
    mono = [0]
    service = build_alarm_service(loaded_site(tmp_path), clock=clock,
                                  monotonic=lambda: mono[0])
    try:
        clock.t, mono[0] = at(10), 10 * 10**9
        report(service, DOWN, False, 10)
        clock.t, mono[0] = at(3620), 20 * 10**9  # the clock stepped forward by 3600 s
        assert report(service, DOWN, True, 3625, since_ns=at(15)) == []
        (raised,) = report(service, DOWN, True, 3681, since_ns=at(15))
        assert raised.ts_ns == at(3680)  # 60 s from the step, not from 15 s
    finally:
        service.close()
