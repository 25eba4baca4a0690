"""Calibration and maintenance on the alarm side.

Due-soon and overdue calibration alarms on the engine's state machine, at
their exact boundaries (fake clock), audited, restored without a duplicate
after a restart; readings of an overdue device keep value and quality and
carry a note; maintenance mode marks readings with quality ``maintenance``
while its alarms stay recorded, suppressed; and a daemon polling simulators
stores all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.alarms.attach import HealthChecks
from monitor.alarms.service import AlarmService, build_alarm_service
from monitor.audit import AuditTrail
from monitor.config import LoadedConfig, load_config
from monitor.errors import ConfigError
from monitor.model import Quality, Reading
from monitor.qa.calibration import CalStatus, calibration_states
from monitor.service import Service
from monitor.storage.history import History
from simulators.site import SiteSimulation
from tests.alarms.site import BASE, site
from tests.fixtures.ports import free_port

S = 1_000_000_000
DAY = 86400 * S
ROOT = Path(__file__).resolve().parents[2]
DUE = "2027-03-01"  # valid through that day (site time zone UTC): expires 2027-03-02T00:00Z
DUE_SOON, OVERDUE = "dp1:calibration_due", "dp1:calibration_overdue"


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * S


EXPIRES = utc("2027-03-02T00:00:00")
WARN = EXPIRES - 30 * DAY


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def cal_site(tmp_path: Path, due: str = DUE, *, calibration: dict[str, Any] | None = None,
             name: str = "site.yaml") -> LoadedConfig:
    devices = copy.deepcopy(BASE["devices"])
    devices[1].update(calibration_due=due, calibration_certificate="CAL-118")
    alarms: dict[str, Any] = {
        "health": {"enabled": False}, "clock": {"ntp": "off"},
        "limits": {"fill-1": [{"channel": "dp1/dp", "low_action": 10}]},
    }
    if calibration is not None:
        alarms["calibration"] = calibration
    return site(tmp_path, alarms=alarms, devices=devices, name=name)


@contextlib.contextmanager
def checked(loaded: LoadedConfig, clock: Clock) -> Iterator[tuple[AlarmService, HealthChecks,
                                                                  AuditTrail]]:
    service = build_alarm_service(loaded, clock=clock)
    trail = AuditTrail(loaded.config.data_dir, clock=clock)
    try:
        yield service, HealthChecks(loaded, service, audit=trail), trail
    finally:
        service.close()
        trail.close()


def cal_audit(trail: AuditTrail) -> list[str]:
    return [e.action for e in trail.entries() if e.action.startswith("calibration.")]


def test_due_soon_then_overdue_at_their_boundaries(tmp_path: Path) -> None:
    clock = Clock(WARN - S)
    with checked(cal_site(tmp_path), clock) as (service, checks, trail):
        assert checks.check(WARN - S) == []
        assert service.engine.t.points[DUE_SOON].state == "normal"

        raised, = checks.check(WARN)
        assert (raised.kind, raised.point, raised.state) == ("raised", DUE_SOON, "active_unack")
        assert (raised.level, raised.priority, raised.location) == ("health", "medium", "fill-1")
        assert (raised.value, raised.limit) == (30.0, 30.0)
        assert raised.details is not None
        assert raised.details["detail"] == ("calibration valid until 2027-03-01 "
                                            "(30.0 days left, certificate CAL-118)")
        assert raised.notify

        assert checks.check(EXPIRES - S) == []  # the due day is valid to its last second
        cleared, overdue = checks.check(EXPIRES)
        assert (cleared.kind, cleared.point, cleared.state) == ("cleared", DUE_SOON, "rtn_unack")
        assert (overdue.kind, overdue.point, overdue.priority) == ("raised", OVERDUE, "high")
        assert (overdue.value, overdue.limit) == (0.0, 0.0)
        assert overdue.details is not None
        assert overdue.details["detail"] == ("calibration expired: valid until 2027-03-01, "
                                             "certificate CAL-118")
        assert checks.check(EXPIRES + DAY) == []  # still overdue: nothing new

        assert cal_audit(trail) == ["calibration.due_soon", "calibration.overdue"]
        assert trail.entries()[-1].object == "device:dp1"
        logged = [(e.kind, e.point) for e in service.events() if e.point in (DUE_SOON, OVERDUE)]
        assert logged == [("raised", DUE_SOON), ("cleared", DUE_SOON), ("raised", OVERDUE)]
        assert service.verify() is None


def test_restart_keeps_the_overdue_alarm_without_duplicate_or_new_audit(tmp_path: Path) -> None:
    loaded = cal_site(tmp_path)
    clock = Clock(EXPIRES + DAY)
    with checked(loaded, clock) as (service, checks, trail):
        raised, = checks.check(clock.now)
        assert raised.point == OVERDUE
        alarm_id = raised.alarm_id
    clock.now += 90 * S
    with checked(loaded, clock) as (service, checks, trail):
        point = service.engine.t.points[OVERDUE]
        assert (point.state, point.alarm_id) == ("active_unack", alarm_id)
        assert checks.check(clock.now) == []
        assert cal_audit(trail) == ["calibration.overdue"]  # not audited again
        # a health alarm is acknowledged without a signature
        ack, = service.acknowledge(alarm_id, "erik", "booked with the calibration lab")
        assert (ack.kind, ack.state) == ("acknowledged", "active_ack")
        assert [e.kind for e in service.events(alarm_id=alarm_id)].count("raised") == 1


def test_renewed_calibration_clears_and_an_unreadable_date_is_refused(tmp_path: Path) -> None:
    clock = Clock(EXPIRES + DAY)
    with checked(cal_site(tmp_path), clock) as (service, checks, _trail):
        raised, = checks.check(clock.now)
        service.acknowledge(raised.alarm_id or 0, "erik", "sent for calibration")
    renewed = cal_site(tmp_path, "2028-03-01", name="renewed.yaml")
    with checked(renewed, clock) as (service, checks, _trail):
        cleared, = checks.check(clock.now)
        assert (cleared.kind, cleared.point, cleared.state) == ("cleared", OVERDUE, "normal")
    # a due date that cannot be read stops the load (FILE:LINE), before any alarm could be due
    with pytest.raises(ConfigError, match=r"unreadable\.yaml:\d+: devices\[1\]\.calibration_due: "
                       "'first of March' is not a date"):
        cal_site(tmp_path, "first of March", name="unreadable.yaml")


def test_warning_period_and_priorities_come_from_the_config(tmp_path: Path) -> None:
    loaded = cal_site(tmp_path, calibration={"warn_before": "7d", "priority_due": "low",
                                             "priority_overdue": "critical"})
    clock = Clock(EXPIRES - 8 * DAY)
    with checked(loaded, clock) as (service, checks, _trail):
        assert checks.calibration.warn_days == 7.0
        assert checks.check(EXPIRES - 7 * DAY - 1) == []
        raised, = checks.check(EXPIRES - 7 * DAY)
        assert (raised.priority, raised.limit) == ("low", 7.0)
        _, overdue = checks.check(EXPIRES)
        assert overdue.priority == "critical"
    # reports read the same warning period
    states = {s.device: s for s in calibration_states(loaded, EXPIRES - 8 * DAY)}
    assert states["dp1"].status == CalStatus.OK
    # switched off: the open alarm is retired and waits for its acknowledgement
    off = cal_site(tmp_path, calibration={"enabled": False}, name="off.yaml")
    with checked(off, Clock(EXPIRES + DAY)) as (service, checks, _trail):
        retired = [e for e in service.events() if e.kind == "retired"]
        assert [(e.point, e.state) for e in retired] == [(DUE_SOON, "rtn_unack"),
                                                         (OVERDUE, "rtn_unack")]
        assert checks.check(EXPIRES + DAY) == []


def test_overdue_readings_keep_value_and_quality_and_still_alarm(tmp_path: Path) -> None:
    clock = Clock(EXPIRES - 60 * S)
    with checked(cal_site(tmp_path), clock) as (service, checks, _trail):
        checks.check(clock.now)
        transform = checks.transform
        before = [Reading("dp1/dp", 14.0, Quality.GOOD, EXPIRES - 1)]
        assert transform(before) is before
        # the expiry falls between two checks: flagged from the exact instant all the same
        at_expiry = transform([Reading("dp1/dp", 5.0, Quality.GOOD, EXPIRES),
                               Reading("th1/t", 20.0, Quality.GOOD, EXPIRES)])
        note = "calibration overdue (valid until 2027-03-01, certificate CAL-118)"
        assert at_expiry[0].detail == note
        assert (at_expiry[0].value, at_expiry[0].quality) == (5.0, Quality.GOOD)
        assert at_expiry[1].detail is None
        events = service.evaluate(at_expiry)  # also publishes the check's events
        assert [(e.kind, e.point) for e in events if e.level != "health"] == [
            ("location_state", "location:fill-1"), ("raised", "dp1/dp:low_action")]

        checks.check(EXPIRES + 60 * S)
        bad = transform([Reading("dp1/dp", None, Quality.COMM_ERROR, EXPIRES + 61 * S,
                                 detail="timeout")])
        assert bad[0].quality is Quality.COMM_ERROR
        assert bad[0].detail == f"timeout; {note}"


def test_maintenance_marks_readings_and_its_alarms_stay_recorded_suppressed(
        tmp_path: Path) -> None:
    t0 = utc("2027-01-20T08:00:00")
    clock = Clock(t0)
    with checked(cal_site(tmp_path), clock) as (service, checks, _trail):
        transform = checks.transform
        service.tick(t0)  # publishes the start-up events
        # a device reporting maintenance by itself, outside maintenance mode: not evaluated
        assert service.evaluate([Reading("dp1/dp", 5.0, Quality.MAINTENANCE, t0 + S)]) == []

        service.set_maintenance("dp1", True, "erik", "zero check", until_ns=t0 + 600 * S)
        marked = transform([Reading("dp1/dp", 5.0, Quality.GOOD, t0 + 2 * S),
                            Reading("th1/t", 21.0, Quality.GOOD, t0 + 2 * S)])
        assert (marked[0].quality, marked[0].value) == (Quality.MAINTENANCE, 5.0)
        assert marked[0].detail == "maintenance mode (dp1)"
        assert marked[1].quality is Quality.GOOD  # another device: untouched
        raised, = (e for e in service.evaluate(marked) if e.kind == "raised")
        assert (raised.point, raised.mode, raised.notify) == ("dp1/dp:low_action",
                                                              "suppressed", False)
        assert service.counters.maintenance == 1

        service.set_maintenance("fill-1", True, "erik", "filter change")
        faulted = transform([Reading("th1/t", None, Quality.COMM_ERROR, t0 + 3 * S,
                                     detail="timeout")])
        assert faulted[0].quality is Quality.COMM_ERROR  # the worse fact keeps its quality
        assert faulted[0].detail == "timeout; maintenance mode (fill-1)"
        dp = transform([Reading("dp1/dp", 6.0, Quality.GOOD, t0 + 3 * S)])
        assert dp[0].detail == "maintenance mode (dp1)"  # the narrowest target is named

        service.set_maintenance("fill-1", False, "erik", "filter changed")
        after = [Reading("dp1/dp", 15.0, Quality.GOOD, t0 + 600 * S)]  # dp1's period is over
        assert transform(after) is after


def daemon_config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(f"""\
site: {{id: cal-site, name: Calibration test}}
data_dir: {tmp_path / "data"}
include: ["{ROOT}/config/devices/*.yaml"]
http: {{enabled: false}}
connections:
  - {{name: gw, driver: modbus_tcp, host: 127.0.0.1, port: {port}, timeout: 500ms}}
rooms:
  - {{name: fill, grade: B, locations: [{{name: fill-1}}]}}
devices:
  - {{name: dp1, connection: gw, location: fill-1, profile: dp-generic, unit_id: 1,
     poll_interval: 200ms, calibration_due: "2020-01-31", calibration_certificate: CAL-7}}
  - {{name: dp2, connection: gw, location: fill-1, profile: dp-generic, unit_id: 2,
     poll_interval: 200ms}}
alarms:
  clock: {{ntp: "off"}}
""")
    return path


async def test_daemon_flags_overdue_readings_and_marks_maintenance(tmp_path: Path) -> None:
    path = daemon_config(tmp_path, free_port())
    loaded = load_config(path)
    service = Service(path, loaded=loaded, with_http=False)
    async with SiteSimulation.from_config(loaded.config):
        task = asyncio.create_task(service.run())
        try:
            async with asyncio.timeout(15):
                await service.ready.wait()
                runtime = service.runtime
                assert runtime is not None
                alarms = runtime.alarms
                while not any(a.point == "dp1:calibration_overdue" for a in alarms.active()):
                    await asyncio.sleep(0.05)
                await asyncio.sleep(1.0)
                switched = alarms.clock()
                alarms.set_maintenance("dp2", True, "erik", "transmitter zero check")
                await asyncio.sleep(1.0)
        finally:
            service.request_stop()
            assert await asyncio.wait_for(task, 15) == 0

    with History(tmp_path / "data") as history:
        dp1 = history.query("dp1/dp").samples
        dp2 = history.query("dp2/dp").samples
    assert len(dp1) > 5
    assert len(dp2) > 5
    note = "calibration overdue (valid until 2020-01-31, certificate CAL-7)"
    assert all(s.detail == note and s.quality == "good" and s.value is not None for s in dp1)
    before = [s for s in dp2 if s.ts_ns < switched]
    during = [s for s in dp2 if s.ts_ns > switched]
    assert before
    assert during
    assert all(s.quality == "good" and s.detail is None for s in before)
    assert all(s.quality == "maintenance" and s.value is not None
               and s.detail == "maintenance mode (dp2)" for s in during)
    with AuditTrail(tmp_path / "data") as trail:
        assert "calibration.overdue" in [e.action for e in trail.entries()]
        assert "maintenance.started" in [e.action for e in trail.entries()]
