"""Calibration due dates: which devices are due soon or overdue, and flagging their readings.

A device's ``calibration_due`` is the last day its calibration is valid, a
date in the site's time zone (``site.timezone``): it is overdue from the
following midnight there. Readings of an overdue device keep their values
and quality (the measurement still happened and still counts for alarms) but
carry a ``detail`` saying so, in the store and in reports.

``CalibrationMonitor.check(now_ns)`` is meant to be called periodically (the
service's tick): it returns the devices whose status changed, audits each
change, and keeps the overdue set that ``flag_readings`` uses. The alarm
engine may raise alarms from the returned changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.audit import SYSTEM_USER, Action, AuditTrail
from monitor.model import Reading

if TYPE_CHECKING:
    from monitor.config import LoadedConfig

NS = 1_000_000_000
DEFAULT_WARN_DAYS = 30


class CalStatus(StrEnum):
    OK = "ok"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    NOT_SET = "not_set"  # no due date configured
    INVALID = "invalid"  # the configured date cannot be read


@dataclass(frozen=True)
class CalibrationState:
    device: str
    status: CalStatus
    due: date | None
    expires_ns: int | None  # first instant the calibration is no longer valid (UTC ns)
    certificate: str | None
    days_left: float | None
    problem: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"device": self.device, "status": self.status.value,
                "due": self.due.isoformat() if self.due else None,
                "expires_ns": self.expires_ns, "certificate": self.certificate,
                "days_left": self.days_left, "problem": self.problem}


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def calibration_states(loaded: LoadedConfig, now_ns: int, *,
                       warn_days: float = DEFAULT_WARN_DAYS) -> list[CalibrationState]:
    """Every device's calibration status at ``now_ns``."""
    zone = _zone(loaded.config.site.timezone)
    out = []
    for device in loaded.config.devices:
        cert = device.calibration_certificate
        text = device.calibration_due
        if not text:
            out.append(CalibrationState(device.name, CalStatus.NOT_SET, None, None, cert, None))
            continue
        try:
            due = date.fromisoformat(text.strip())
        except ValueError:
            out.append(CalibrationState(device.name, CalStatus.INVALID, None, None, cert, None,
                                        problem=f"calibration_due {text!r} is not an ISO date"))
            continue
        end = datetime.combine(due + timedelta(days=1), datetime.min.time(), tzinfo=zone)
        expires_ns = int(end.astimezone(UTC).timestamp()) * NS
        days_left = (expires_ns - now_ns) / (86400 * NS)
        status = (CalStatus.OVERDUE if days_left <= 0 else
                  CalStatus.DUE_SOON if days_left <= warn_days else CalStatus.OK)
        out.append(CalibrationState(device.name, status, due, expires_ns, cert,
                                    round(days_left, 3)))
    return out


class CalibrationMonitor:
    def __init__(self, loaded: LoadedConfig, *, audit: AuditTrail | None = None,
                 warn_days: float = DEFAULT_WARN_DAYS) -> None:
        self.loaded = loaded
        self.audit = audit
        self.warn_days = warn_days
        self.states: dict[str, CalibrationState] = {}
        self._overdue: dict[str, str] = {}  # device -> reading detail
        self._device_of = {cid: info.device for cid, info in loaded.channels.items()}

    def check(self, now_ns: int) -> list[CalibrationState]:
        """Re-evaluate; return (and audit) the devices whose status changed."""
        changed = []
        for state in calibration_states(self.loaded, now_ns, warn_days=self.warn_days):
            before = self.states.get(state.device)
            self.states[state.device] = state
            if before is not None and before.status == state.status:
                continue
            changed.append(state)
            if self.audit is not None and state.status in (CalStatus.OVERDUE,
                                                           CalStatus.DUE_SOON):
                action = (Action.CALIBRATION_OVERDUE if state.status == CalStatus.OVERDUE
                          else Action.CALIBRATION_DUE_SOON)
                self.audit.record(SYSTEM_USER, action, f"device:{state.device}",
                                  old=None if before is None else before.status.value,
                                  new=state.to_json())
        self._overdue = {
            s.device: f"calibration overdue (valid until {s.due.isoformat()}"
                      + (f", certificate {s.certificate})" if s.certificate else ")")
            for s in self.states.values() if s.status == CalStatus.OVERDUE and s.due}
        return changed

    @property
    def overdue(self) -> frozenset[str]:
        return frozenset(self._overdue)

    def flag_readings(self, readings: Sequence[Reading]) -> Sequence[Reading]:
        """A ``Pipeline.transform``: readings of overdue devices get a detail, nothing else."""
        if not self._overdue:
            return readings
        overdue, device_of = self._overdue, self._device_of
        out: list[Reading] | None = None
        for i, reading in enumerate(readings):
            note = overdue.get(device_of.get(reading.channel, ""))
            if note is None:
                if out is not None:
                    out.append(reading)
                continue
            if out is None:
                out = list(readings[:i])
            detail = note if not reading.detail else f"{reading.detail}; {note}"
            out.append(replace(reading, detail=detail))
        return readings if out is None else out


def chain(*transforms: Callable[[Sequence[Reading]], Sequence[Reading]] | None,
          ) -> Callable[[Sequence[Reading]], Sequence[Reading]]:
    """Compose pipeline transforms (calibration flags, maintenance marking...) in order."""
    steps = [t for t in transforms if t is not None]

    def run(readings: Sequence[Reading]) -> Sequence[Reading]:
        for step in steps:
            readings = step(readings)
        return readings

    return run
