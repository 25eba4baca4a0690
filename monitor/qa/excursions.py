"""Excursions as QA sees them: one per alarm episode of an alert or action limit.

The alarm engine records events (raised, peak, cleared, acknowledged...) in
its hash-chained event log; an excursion is what those events say about one
alarm episode (one ``alarm_id``): where, which limit, from when to when, how
far, who acknowledged it. ``excursions_from_events`` derives them from the
events' JSON records (``AlarmEvent.to_json()``), so QA reads the same record
the engine wrote and never a second, possibly diverging, copy.

``Excursion.record()`` is the content a QA signature is bound to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

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
    start_ns: int
    end_ns: int | None  # None while the condition is still present
    limit: float | None
    peak: float | None
    peak_ns: int | None
    location_state: str | None
    acknowledgements: tuple[Acknowledgement, ...] = ()
    notes: tuple[str, ...] = ()  # shelved, suppressed (maintenance), retired...
    event_ids: tuple[str, ...] = field(default=(), compare=False)

    @property
    def ongoing(self) -> bool:
        return self.end_ns is None

    def duration_s(self, now_ns: int | None = None) -> float | None:
        end = self.end_ns if self.end_ns is not None else now_ns
        return None if end is None else (end - self.start_ns) / 1e9

    def record(self) -> dict[str, Any]:
        """The excursion's content for signing and hashing: everything the engine recorded."""
        return {
            "id": self.id, "alarm_id": self.alarm_id, "location": self.location,
            "channel": self.channel, "rule": self.rule, "level": self.level,
            "priority": self.priority, "start_ns": self.start_ns, "end_ns": self.end_ns,
            "limit": self.limit, "peak": self.peak, "peak_ns": self.peak_ns,
            "location_state": self.location_state,
            "acknowledgements": [a.to_json() for a in self.acknowledgements],
            "notes": list(self.notes), "events": list(self.event_ids),
        }


class ExcursionSource(Protocol):
    """Where excursions come from (the alarm engine's event log)."""

    def excursions(self, from_ns: int, to_ns: int,
                   location: str | None = None) -> Sequence[Excursion]:
        """Excursions overlapping ``[from_ns, to_ns)``, oldest first."""
        ...

    def excursion(self, excursion_id: str) -> Excursion | None: ...


def excursions_from_events(records: Iterable[Mapping[str, Any]]) -> list[Excursion]:
    """Fold event records (in seq order) into excursions, oldest first."""
    found: dict[int, Excursion] = {}
    for rec in records:
        alarm_id = rec.get("alarm_id")
        if alarm_id is None or rec.get("level") not in VALUE_LEVELS:
            continue
        kind, ts = str(rec.get("kind")), int(rec["ts_ns"])
        details: Mapping[str, Any] = rec.get("details") or {}
        exc = found.get(int(alarm_id))
        if exc is None:
            if kind != "raised":
                continue  # the episode began before the records we were given
            exc = Excursion(
                id=str(alarm_id), alarm_id=int(alarm_id), location=str(rec.get("location")),
                channel=str(rec.get("channel")), rule=str(rec.get("rule")),
                level=str(rec.get("level")), priority=rec.get("priority"), start_ns=ts,
                end_ns=None, limit=rec.get("limit"), peak=rec.get("value"), peak_ns=ts,
                location_state=rec.get("location_state"),
            )
        exc = replace(exc, event_ids=(*exc.event_ids, str(rec.get("id"))))
        if kind == "raised":
            exc = replace(exc, end_ns=None, limit=rec.get("limit", exc.limit))
        elif kind == "peak" and rec.get("value") is not None:
            exc = replace(exc, peak=rec.get("value"), peak_ns=ts)
        elif kind in ("cleared", "retired"):
            end = int(details.get("end_ns", ts))
            exc = replace(exc, end_ns=end, peak=details.get("peak", exc.peak),
                          peak_ns=details.get("peak_ns", exc.peak_ns))
            if kind == "retired":
                exc = replace(exc, notes=(*exc.notes, "rule removed from the configuration"))
        elif kind == "acknowledged":
            ack = Acknowledgement(str(rec.get("user")), ts, rec.get("reason"),
                                  details.get("signature"))
            exc = replace(exc, acknowledgements=(*exc.acknowledgements, ack))
        elif kind in ("shelved", "unshelved", "suppressed", "unsuppressed", "out_of_service",
                      "in_service"):
            who = rec.get("user") or "system"
            exc = replace(exc, notes=(*exc.notes, f"{kind} by {who}: {rec.get('reason') or ''}"
                                      .rstrip(": ")))
        found[int(alarm_id)] = exc
    return sorted(found.values(), key=lambda e: (e.start_ns, e.alarm_id))


class RecordsSource:
    """An ``ExcursionSource`` over event records already read (tests, exports, demos)."""

    def __init__(self, records: Iterable[Mapping[str, Any]]) -> None:
        self._all = excursions_from_events(records)
        self._by_id = {e.id: e for e in self._all}

    def excursions(self, from_ns: int, to_ns: int,
                   location: str | None = None) -> list[Excursion]:
        return [e for e in self._all if overlaps(e, from_ns, to_ns)
                and (location is None or e.location == location)]

    def excursion(self, excursion_id: str) -> Excursion | None:
        return self._by_id.get(excursion_id)


def overlaps(exc: Excursion, from_ns: int, to_ns: int) -> bool:
    return exc.start_ns < to_ns and (exc.end_ns is None or exc.end_ns >= from_ns)
