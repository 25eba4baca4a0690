"""Excursions as QA sees them: one per alarm episode of an alert or action limit.

The alarm engine records events (raised, peak, cleared, acknowledged...) in
its hash-chained event log, and ``monitor.alarms.excursions.fold`` derives one
excursion per alarm id from them. QA reads exactly that derivation (never a
second copy that could diverge) and freezes it into ``Excursion``, whose
``record()`` is the content a QA signature is bound to.

Only value excursions (alert and action levels) are reviewed; health alarms
(stale data, communication failure) show in reports as gaps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from monitor.alarms.excursions import Excursion as AlarmExcursion

VALUE_LEVELS = frozenset({"alert", "action"})


@dataclass(frozen=True)
class Acknowledgement:
    user: str
    ts_ns: int
    reason: str | None
    signature: Mapping[str, Any] | None  # the operator's e-signature, when one was required

    def to_json(self) -> dict[str, Any]:
        return {"user": self.user, "ts_ns": self.ts_ns, "reason": self.reason,
                "signature": dict(self.signature) if self.signature else None}


@dataclass(frozen=True)
class Excursion:
    id: str
    alarm_id: int
    location: str
    channel: str
    rule: str
    level: str  # "alert" or "action"
    priority: str | None
    start_ns: int  # first sample beyond the limit (before any on-delay)
    raised_ns: int
    end_ns: int | None  # first sample back within the limit; None while still beyond it
    closed_ns: int | None  # the alarm reached normal (ended and acknowledged)
    limit: float | None
    limits: Mapping[str, Any] | None  # every limit of the channel in force when raised
    peak: float | None
    peak_ns: int | None
    location_state: str | None
    alarm_state: str
    acknowledgements: tuple[Acknowledgement, ...] = ()
    notes: tuple[str, ...] = ()  # shelved, suppressed (maintenance), retired...
    first_seq: int = 0
    last_seq: int = 0

    @property
    def ongoing(self) -> bool:
        return self.end_ns is None

    @property
    def finished(self) -> bool:
        """Ended and acknowledged: the alarm system has nothing more to add to it."""
        return self.closed_ns is not None

    def duration_s(self, now_ns: int | None = None) -> float | None:
        end = self.end_ns if self.end_ns is not None else now_ns
        return None if end is None else (end - self.start_ns) / 1e9

    def limit_value(self, name: str) -> float | None:
        """``high_alert``, ``high_action``, ``low_alert``, ``low_action`` in force when raised."""
        value = (self.limits or {}).get(name)
        return float(value) if isinstance(value, int | float) else None

    def record(self) -> dict[str, Any]:
        """The excursion's content for signing and hashing: everything the engine recorded."""
        return {
            "id": self.id, "alarm_id": self.alarm_id, "location": self.location,
            "channel": self.channel, "rule": self.rule, "level": self.level,
            "priority": self.priority, "start_ns": self.start_ns, "raised_ns": self.raised_ns,
            "end_ns": self.end_ns, "closed_ns": self.closed_ns, "limit": self.limit,
            "limits": dict(self.limits) if self.limits else None, "peak": self.peak,
            "peak_ns": self.peak_ns, "location_state": self.location_state,
            "acknowledgements": [a.to_json() for a in self.acknowledgements],
            "notes": list(self.notes), "events": [self.first_seq, self.last_seq],
        }


def from_alarm(exc: AlarmExcursion) -> Excursion:
    """Freeze the alarm engine's excursion record into QA's view of it."""
    notes = [f"{n.kind} by {n.user or 'system'}" + (f": {n.reason}" if n.reason else "")
             for n in exc.notes]
    if exc.retired:
        notes.append("rule removed from the configuration")
    return Excursion(
        id=str(exc.alarm_id), alarm_id=exc.alarm_id, location=exc.location,
        channel=exc.channel, rule=exc.rule, level=exc.level, priority=exc.priority or None,
        start_ns=exc.start_ns, raised_ns=exc.raised_ns, end_ns=exc.end_ns,
        closed_ns=exc.closed_ns, limit=exc.limit,
        limits=dict(exc.limits) if exc.limits else None, peak=exc.peak, peak_ns=exc.peak_ns,
        location_state=exc.location_state, alarm_state=exc.state,
        acknowledgements=tuple(Acknowledgement(a.user, a.ts_ns, a.reason or None,
                                               dict(a.signature) if a.signature else None)
                               for a in exc.acks),
        notes=tuple(notes), first_seq=exc.first_seq, last_seq=exc.last_seq,
    )


class ExcursionSource(Protocol):
    """Where excursions come from (the alarm engine's event log)."""

    def excursions(self, from_ns: int, to_ns: int,
                   location: str | None = None) -> Sequence[Excursion]:
        """Value excursions overlapping ``[from_ns, to_ns)``, oldest first."""
        ...

    def excursion(self, excursion_id: str) -> Excursion | None: ...


def overlaps(exc: Excursion, from_ns: int, to_ns: int) -> bool:
    return exc.start_ns < to_ns and (exc.end_ns is None or exc.end_ns >= from_ns)


def _value_excursions(events: Iterable[Any]) -> list[Excursion]:
    from monitor.alarms.excursions import fold

    out = [from_alarm(e) for e in fold(events).values() if e.level in VALUE_LEVELS]
    return sorted(out, key=lambda e: (e.start_ns, e.alarm_id))


class RecordsSource:
    """Excursions from event records already read (``AlarmEvent.to_json()`` dicts)."""

    def __init__(self, records: Iterable[Mapping[str, Any]]) -> None:
        from monitor.alarms.events import AlarmEvent

        self._all = _value_excursions(AlarmEvent.from_json(r) for r in records)
        self._by_id = {e.id: e for e in self._all}

    def excursions(self, from_ns: int, to_ns: int,
                   location: str | None = None) -> list[Excursion]:
        return [e for e in self._all if overlaps(e, from_ns, to_ns)
                and (location is None or e.location == location)]

    def excursion(self, excursion_id: str) -> Excursion | None:
        return self._by_id.get(excursion_id)


class AlarmLogSource:
    """Excursions read from the alarm engine's event log ``<data_dir>/alarms.db`` (read-only)."""

    def __init__(self, data_dir: str | Path) -> None:
        from monitor.alarms.eventlog import EventLog

        self.log = EventLog(data_dir, readonly=True)

    def close(self) -> None:
        self.log.close()

    def excursions(self, from_ns: int, to_ns: int,
                   location: str | None = None) -> list[Excursion]:
        ids = self.log.alarm_ids_between(from_ns, to_ns, location)
        found = _value_excursions(self.log.events_of_alarms(ids))
        return [e for e in found if overlaps(e, from_ns, to_ns)]

    def excursion(self, excursion_id: str) -> Excursion | None:
        try:
            alarm_id = int(excursion_id)
        except ValueError:
            return None
        found = _value_excursions(self.log.events(alarm_id=alarm_id))
        return found[0] if found else None
