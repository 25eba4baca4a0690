"""Excursion records, derived from the event log (never stored, so never edited).

One alarm episode (one alarm id) is one excursion: where and what, the rule
and the limits and location state in force when it was raised, when the value
first went beyond the limit (``start_ns``, the first triggering sample, before
any on-delay), when the alarm was raised, when the value came back
(``end_ns``, the first normal sample, before any off-delay), the peak and its
time, the triggering samples, and every acknowledgement with who, when, why
and any signature. ``duration_s`` is end minus start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .events import AlarmEvent, AlarmState, EventKind


@dataclass(frozen=True)
class Acknowledgement:
    ts_ns: int
    user: str
    reason: str
    state_after: str
    signature: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class OperatorNote:
    """Shelving, suppression and service changes during the excursion."""

    ts_ns: int
    kind: str
    user: str | None
    reason: str | None


@dataclass
class Excursion:
    alarm_id: int
    point: str
    location: str
    channel: str
    rule: str
    level: str
    priority: str
    raised_ns: int
    start_ns: int
    limit: float | None
    limits: Mapping[str, Any] | None
    location_state: str | None
    settings: Mapping[str, Any] | None
    samples: list[list[Any]]
    peak: float | None
    peak_ns: int | None
    end_ns: int | None = None
    cleared_ns: int | None = None
    closed_ns: int | None = None  # when the alarm reached normal (cleared and acknowledged)
    state: str = AlarmState.ACTIVE_UNACK
    mode: str = "in_service"
    reraised: int = 0  # times the condition came back before the alarm was acknowledged
    retired: bool = False
    acks: list[Acknowledgement] = field(default_factory=list)
    notes: list[OperatorNote] = field(default_factory=list)
    first_seq: int = 0
    last_seq: int = 0

    @property
    def open(self) -> bool:
        return self.closed_ns is None

    @property
    def duration_s(self) -> float | None:
        if self.end_ns is None:
            return None
        return (self.end_ns - self.start_ns) / 1e9

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("acks", "notes")}
        out["duration_s"] = self.duration_s
        out["open"] = self.open
        out["acks"] = [a.__dict__ for a in self.acks]
        out["notes"] = [n.__dict__ for n in self.notes]
        return out


def fold(events: Iterable[AlarmEvent]) -> dict[int, Excursion]:
    """Excursions from events (seq order); events of other kinds are ignored."""
    out: dict[int, Excursion] = {}
    for event in events:
        if event.alarm_id is None:
            continue
        exc = out.get(event.alarm_id)
        if exc is None:
            if event.kind is not EventKind.RAISED:
                continue  # the log was read from the middle of this alarm
            exc = out[event.alarm_id] = _start(event)
        else:
            _apply(exc, event)
        exc.last_seq = event.seq
        if event.state is not None:
            exc.state = str(event.state)
            if event.state is AlarmState.NORMAL:
                exc.closed_ns = event.ts_ns
        if event.mode is not None:
            exc.mode = str(event.mode)
    return out


def _start(event: AlarmEvent) -> Excursion:
    d = dict(event.details or {})
    return Excursion(
        alarm_id=int(event.alarm_id or 0), point=event.point or "", location=event.location or "",
        channel=event.channel or "", rule=event.rule or "",
        level=str(event.level or ""), priority=event.priority or "", raised_ns=event.ts_ns,
        start_ns=int(d.get("start_ns", event.ts_ns)), limit=event.limit, limits=d.get("limits"),
        location_state=event.location_state, settings=d.get("settings"),
        samples=list(d.get("samples") or []), peak=event.value, peak_ns=event.ts_ns,
        first_seq=event.seq,
    )


def _sign(exc: Excursion) -> float:
    return -1.0 if exc.rule.startswith("low_") else 1.0


def _peak(exc: Excursion, value: Any, ts: Any) -> None:
    if value is None or ts is None:
        return
    if exc.peak is None or (float(value) - exc.peak) * _sign(exc) > 0:
        exc.peak, exc.peak_ns = float(value), int(ts)


def _apply(exc: Excursion, event: AlarmEvent) -> None:
    d = dict(event.details or {})
    kind = event.kind
    if kind is EventKind.RAISED:  # back before acknowledgement: the same excursion goes on
        exc.reraised += 1
        exc.end_ns = exc.cleared_ns = None
        _peak(exc, event.value, event.ts_ns)
        for sample in d.get("samples") or []:
            exc.samples.append(sample)
    elif kind is EventKind.PEAK:
        _peak(exc, event.value, event.ts_ns)
    elif kind is EventKind.CLEARED:
        exc.end_ns = int(d.get("end_ns", event.ts_ns))
        exc.cleared_ns = event.ts_ns
        _peak(exc, d.get("peak"), d.get("peak_ns"))
    elif kind is EventKind.RETIRED:
        exc.retired = True
        if exc.end_ns is None:
            exc.end_ns = exc.cleared_ns = event.ts_ns
    elif kind is EventKind.ACKNOWLEDGED:
        exc.acks.append(Acknowledgement(event.ts_ns, event.user or "", event.reason or "",
                                        str(event.state), d.get("signature")))
    else:
        exc.notes.append(OperatorNote(event.ts_ns, str(kind), event.user, event.reason))
