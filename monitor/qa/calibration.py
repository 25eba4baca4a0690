"""Calibration due dates: which devices are due soon or overdue, and flagging their readings.

A device's ``calibration_due`` is the last day its calibration is valid, a
date in the site's time zone (``site.timezone``): it is overdue from the
following midnight there. Readings of an overdue device keep their values
and quality (the measurement still happened and still counts for alarms: a
different quality would stop the alarm engine from comparing them with their
limits) but carry a ``detail`` saying so, in the store and in reports.

``CalibrationMonitor.check(now_ns)`` is called about once a minute from the
runtime's tick (``monitor.alarms.attach``): it returns the devices whose
status changed, audits each change (``calibration.due_soon`` /
``calibration.overdue``) and keeps the overdue set that ``flag_readings``
uses; ``flags()`` gives the alarm engine the conditions of the health alarms
``<device>:calibration_due`` (within ``alarms.calibration.warn_before``) and
``<device>:calibration_overdue``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.alarms.flags import CAL_DUE, CAL_OVERDUE, Flag
from monitor.alarms.flags import key as flag_key
from monitor.audit import SYSTEM_USER, Action, AuditTrail
from monitor.model import Reading

if TYPE_CHECKING:
    from monitor.config import LoadedConfig

NS = 1_000_000_000
DEFAULT_WARN_DAYS = 30
#: how a flagged reading's detail begins: "calibration overdue (valid until ...)"; reports
#: find flagged readings by it
OVERDUE_NOTE = "calibration overdue"
LOOKAHEAD_NS = 300 * NS


class CalStatus(StrEnum):
    OK = "ok"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    NOT_SET = "not_set"  # no due date configured (a date that cannot be read fails the load)


@dataclass(frozen=True)
class CalibrationState:
    device: str
    status: CalStatus
    due: date | None
    expires_ns: int | None  # first instant the calibration is no longer valid (UTC ns)
    certificate: str | None
    days_left: float | None

    def to_json(self) -> dict[str, object]:
        return {"device": self.device, "status": self.status.value,
                "due": self.due.isoformat() if self.due else None,
                "expires_ns": self.expires_ns, "certificate": self.certificate,
                "days_left": self.days_left}


def _overdue_note(state: CalibrationState) -> str:
    due = state.due.isoformat() if state.due else "?"
    cert = f", certificate {state.certificate}" if state.certificate else ""
    return f"{OVERDUE_NOTE} (valid until {due}{cert})"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def warn_days_of(loaded: LoadedConfig) -> float:
    """The warning period of ``alarms.calibration.warn_before``, in days."""
    alarms = getattr(loaded.config, "alarms", None)
    cal = getattr(alarms, "calibration", None)
    return DEFAULT_WARN_DAYS if cal is None else float(cal.warn_before) / 86400.0


def calibration_states(loaded: LoadedConfig, now_ns: int, *,
                       warn_days: float | None = None) -> list[CalibrationState]:
    """Every device's calibration status at ``now_ns`` (warning period: the config's)."""
    if warn_days is None:
        warn_days = warn_days_of(loaded)
    zone = _zone(loaded.config.site.timezone)
    out = []
    for device in loaded.config.devices:
        cert = device.calibration_certificate
        due = device.calibration_due  # a date, checked when the config was loaded
        if due is None:
            out.append(CalibrationState(device.name, CalStatus.NOT_SET, None, None, cert, None))
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
    """Calibration status of every device, its audit entries, alarm flags and reading flags.

    ``previous`` (device -> status) seeds what the monitor knew before a
    restart (the alarm engine's restored calibration alarms), so that a
    restart does not audit an unchanged status again.
    """

    def __init__(self, loaded: LoadedConfig, *, audit: AuditTrail | None = None,
                 warn_days: float | None = None,
                 previous: Mapping[str, CalStatus] | None = None) -> None:
        self.loaded = loaded
        self.audit = audit
        self.warn_days = warn_days_of(loaded) if warn_days is None else warn_days
        self.states: dict[str, CalibrationState] = {}
        self._previous = dict(previous or {})
        self._overdue: dict[str, str] = {}  # device -> reading detail
        self._expiring: dict[str, tuple[int, str]] = {}  # device -> (expiry, detail), soon
        self._device_of = {cid: info.device for cid, info in loaded.channels.items()}

    def check(self, now_ns: int, *, lookahead_ns: int = LOOKAHEAD_NS) -> list[CalibrationState]:
        """Re-evaluate; return (and audit) the devices whose status changed.

        Readings of a device whose calibration expires within ``lookahead_ns``
        are flagged from the exact expiry on, whenever the next check comes.
        """
        changed = []
        for state in calibration_states(self.loaded, now_ns, warn_days=self.warn_days):
            before = self.states.get(state.device)
            self.states[state.device] = state
            known = before.status if before is not None else self._previous.pop(state.device,
                                                                                None)
            if known is not None and known == state.status:
                continue
            changed.append(state)
            if self.audit is not None and state.status in (CalStatus.OVERDUE,
                                                           CalStatus.DUE_SOON):
                action = (Action.CALIBRATION_OVERDUE if state.status == CalStatus.OVERDUE
                          else Action.CALIBRATION_DUE_SOON)
                self.audit.record(SYSTEM_USER, action, f"device:{state.device}",
                                  old=None if known is None else known.value,
                                  new=state.to_json())
        self._overdue = {s.device: _overdue_note(s) for s in self.states.values()
                         if s.status == CalStatus.OVERDUE and s.due}
        self._expiring = {
            s.device: (s.expires_ns, _overdue_note(s)) for s in self.states.values()
            if s.status != CalStatus.OVERDUE and s.expires_ns is not None and s.due
            and s.expires_ns <= now_ns + lookahead_ns}
        return changed

    def flags(self) -> list[Flag]:
        """The calibration alarm conditions of every device with a due date (last check)."""
        out = []
        for s in self.states.values():
            if s.status == CalStatus.NOT_SET:
                continue
            cert = f", certificate {s.certificate}" if s.certificate else ""
            due = s.due.isoformat() if s.due else "?"
            soon = s.status == CalStatus.DUE_SOON
            out.append(Flag(flag_key(s.device, CAL_DUE), soon, s.days_left,
                            f"calibration valid until {due} ({s.days_left} days left{cert})"
                            if soon else None))
            over = s.status == CalStatus.OVERDUE
            out.append(Flag(flag_key(s.device, CAL_OVERDUE), over, s.days_left,
                            f"calibration expired: valid until {due}{cert}" if over else None))
        return out

    @property
    def overdue(self) -> frozenset[str]:
        return frozenset(self._overdue)

    def flag_readings(self, readings: Sequence[Reading]) -> Sequence[Reading]:
        """A ``Pipeline.transform``: readings of overdue devices get a detail, nothing else.

        Value and quality stay: the measurement happened and still counts for
        the alarms (see docs/alarms.md, "Calibration").
        """
        if not self._overdue and not self._expiring:
            return readings
        overdue, expiring, device_of = self._overdue, self._expiring, self._device_of
        out: list[Reading] | None = None
        for i, reading in enumerate(readings):
            device = device_of.get(reading.channel, "")
            note = overdue.get(device)
            if note is None and expiring:
                soon = expiring.get(device)
                if soon is not None and reading.ts_ns >= soon[0]:
                    note = soon[1]
            if note is None:
                if out is not None:
                    out.append(reading)
                continue
            if out is None:
                out = list(readings[:i])
            detail = note if not reading.detail else f"{reading.detail}; {note}"
            out.append(reading._replace(detail=detail))
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
