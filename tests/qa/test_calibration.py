"""Calibration due dates: due soon, overdue at the site's midnight, flagged readings, audit."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from monitor.audit import AuditTrail
from monitor.config import load_config
from monitor.errors import ConfigError
from monitor.model import Quality, Reading
from monitor.qa.calibration import CalibrationMonitor, CalStatus, calibration_states, chain
from tests.audit.sitecfg import write_config

NS = 1_000_000_000


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * NS


def config(tmp_path: Path, due: str, tz: str = "UTC"):  # type: ignore[no-untyped-def]
    path = write_config(tmp_path, dp1_extra=f", calibration_due: '{due}', "
                        "calibration_certificate: CAL-2026-118")
    path.write_text(path.read_text().replace("name: Plant A Fill-Finish}",
                                             f"name: Plant A Fill-Finish, timezone: {tz}}}"))
    return load_config(path)


def test_states(tmp_path: Path) -> None:
    loaded = config(tmp_path, "2026-12-01")
    states = {s.device: s for s in calibration_states(loaded, at("2026-10-01T00:00:00"))}
    assert states["dp1"].status == CalStatus.OK
    assert states["pc1"].status == CalStatus.NOT_SET
    assert states["dp1"].certificate == "CAL-2026-118"
    soon = {s.device: s for s in calibration_states(loaded, at("2026-11-20T00:00:00"))}
    assert soon["dp1"].status == CalStatus.DUE_SOON
    assert soon["dp1"].days_left == 12.0
    # the due day itself is still valid; the next midnight it is not
    assert calibration_states(loaded, at("2026-12-01T23:59:59"))[0].status == CalStatus.DUE_SOON
    assert calibration_states(loaded, at("2026-12-02T00:00:00"))[0].status == CalStatus.OVERDUE


def test_due_date_is_in_the_site_time_zone(tmp_path: Path) -> None:
    loaded = config(tmp_path, "2026-12-01", tz="Asia/Shanghai")  # UTC+8
    assert calibration_states(loaded, at("2026-12-01T15:59:59"))[0].status == CalStatus.DUE_SOON
    assert calibration_states(loaded, at("2026-12-01T16:00:00"))[0].status == CalStatus.OVERDUE


@pytest.mark.parametrize(("due", "why"), [
    ("'first of December'", "'first of December' is not a date: write the last day the "
                            "calibration is valid as YYYY-MM-DD"),
    ("'2026-02-30'", "'2026-02-30' is not a calendar date"),
    ("'20261201'", "'20261201' is not a date"),
    ("2026-12-01T08:00:00", "2026-12-01T08:00:00 is not a date"),  # a moment, not a day
    ("20261201", "20261201 is not a date"),
])
def test_unreadable_date_is_refused_at_load(tmp_path: Path, due: str, why: str) -> None:
    """Refused with the file and line, not found out at run time as an overdue alarm."""
    path = write_config(tmp_path, dp1_extra=f",\n     calibration_due: {due}")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    problem, = err.value.problems
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1)
                if "calibration_due" in text)
    assert problem.startswith(f"{path}:{line}: devices[0].calibration_due: ")
    assert why in problem


def test_due_date_quoted_or_not(tmp_path: Path) -> None:
    plain = load_config(write_config(tmp_path, dp1_extra=", calibration_due: 2026-12-01"))
    quoted = load_config(write_config(tmp_path, dp1_extra=", calibration_due: ' 2026-12-01'",
                                      name="quoted.yaml"))
    assert plain.config.devices[0].calibration_due == date(2026, 12, 1)
    assert quoted.config.devices[0].calibration_due == date(2026, 12, 1)


def test_monitor_audits_changes_and_flags_readings(tmp_path: Path) -> None:
    loaded = config(tmp_path, "2026-12-01")
    with AuditTrail(tmp_path / "data") as trail:
        monitor = CalibrationMonitor(loaded, audit=trail)
        assert [s.status for s in monitor.check(at("2026-10-01T00:00:00"))] == [
            CalStatus.OK, CalStatus.NOT_SET]
        assert monitor.check(at("2026-10-02T00:00:00")) == []
        assert [s.status for s in monitor.check(at("2026-11-15T00:00:00"))] == [
            CalStatus.DUE_SOON]
        readings = [Reading("dp1/dp", 14.0, Quality.GOOD, 1),
                    Reading("pc1/p05", 1000.0, Quality.GOOD, 1)]
        assert monitor.flag_readings(readings) is readings  # nothing overdue: untouched
        monitor.check(at("2026-12-03T00:00:00"))
        assert monitor.overdue == {"dp1"}
        flagged = chain(None, monitor.flag_readings)(readings)
        assert flagged[0].value == 14.0
        assert flagged[0].quality is Quality.GOOD
        assert flagged[0].detail == ("calibration overdue (valid until 2026-12-01, "
                                     "certificate CAL-2026-118)")
        assert flagged[1] is readings[1]
        assert [e.action for e in trail.entries()] == ["calibration.due_soon",
                                                       "calibration.overdue"]
        assert trail.entries()[-1].object == "device:dp1"
