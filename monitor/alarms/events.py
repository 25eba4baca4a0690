"""What the alarm engine says: one immutable event per change, the unit of the event log.

Every alarm state change, acknowledgement, shelving, maintenance switch and
location state change is an ``AlarmEvent``. The event log stores them in order
(``seq``), excursion records and the engine's state after a restart are
derived from them, and notifiers consume them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class AlarmState(StrEnum):
    """ISA-18.2 alarm states of an alarm point (process condition x acknowledgement)."""

    NORMAL = "normal"
    ACTIVE_UNACK = "active_unack"
    ACTIVE_ACK = "active_ack"
    RTN_UNACK = "rtn_unack"


class Mode(StrEnum):
    """ISA-18.2 states that sit over the alarm state: is the alarm annunciated at all?

    A shelved or suppressed alarm is still evaluated and recorded (a GMP record
    must be complete); it is only not annunciated. An out-of-service alarm is
    not evaluated; its alarm state is frozen until it returns to service.
    """

    IN_SERVICE = "in_service"
    SHELVED = "shelved"
    SUPPRESSED = "suppressed"
    OUT_OF_SERVICE = "out_of_service"


class Level(StrEnum):
    ALERT = "alert"
    ACTION = "action"
    HEALTH = "health"


class EventKind(StrEnum):
    RAISED = "raised"  # condition became active: normal/rtn_unack -> active_unack
    CLEARED = "cleared"  # condition returned to normal
    ACKNOWLEDGED = "acknowledged"
    SHELVED = "shelved"
    UNSHELVED = "unshelved"  # by a user or because the shelving expired
    SUPPRESSED = "suppressed"  # maintenance/bypass began for the alarm's location or device
    UNSUPPRESSED = "unsuppressed"
    OUT_OF_SERVICE = "out_of_service"
    IN_SERVICE = "in_service"
    PEAK = "peak"  # a new extreme of an open excursion (rate-limited)
    RETIRED = "retired"  # the rule left the configuration while its alarm was open
    LOCATION_STATE = "location_state"  # at_rest / in_operation changed
    MAINTENANCE = "maintenance"  # maintenance mode switched for a location or device
    CLOCK_STEP = "clock_step"  # the host's clock stepped; the engine's timers moved with it


NOTIFY_KINDS = frozenset({
    EventKind.RAISED, EventKind.CLEARED, EventKind.ACKNOWLEDGED, EventKind.SHELVED,
    EventKind.UNSHELVED, EventKind.RETIRED, EventKind.OUT_OF_SERVICE, EventKind.IN_SERVICE,
})
"""Kinds that change what an operator sees about an alarm."""


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """One change. ``seq`` orders events in the log (1, 2, 3...); ``id`` is unique across logs.

    ``state`` is the alarm state after the change and ``prev_state`` before it
    (None for events that are not about one alarm). ``value``/``limit`` are the
    value that caused the change and the limit it was compared with;
    ``location_state`` the state in force. ``user`` is who acted ("system" for
    the engine itself); ``details`` holds the rest (triggering samples, peak,
    limits in force, signature, shelving expiry).
    """

    seq: int
    id: str
    ts_ns: int
    kind: EventKind
    alarm_id: int | None = None
    point: str | None = None  # "<channel>:<rule>", the alarm point this is about
    location: str | None = None
    channel: str | None = None
    rule: str | None = None
    level: Level | None = None
    priority: str | None = None
    state: AlarmState | None = None
    prev_state: AlarmState | None = None
    mode: Mode | None = None
    value: float | None = None
    limit: float | None = None
    location_state: str | None = None
    user: str | None = None
    reason: str | None = None
    details: Mapping[str, Any] | None = None

    @property
    def notify(self) -> bool:
        """True when notifiers should page: an alarm change while the alarm is in service."""
        return self.kind in NOTIFY_KINDS and self.mode in (Mode.IN_SERVICE, None)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types only; this exact dict is what the event log hashes."""
        return {
            "id": self.id,
            "seq": self.seq,
            "ts_ns": self.ts_ns,
            "kind": str(self.kind),
            "alarm_id": self.alarm_id,
            "point": self.point,
            "location": self.location,
            "channel": self.channel,
            "rule": self.rule,
            "level": None if self.level is None else str(self.level),
            "priority": self.priority,
            "state": None if self.state is None else str(self.state),
            "prev_state": None if self.prev_state is None else str(self.prev_state),
            "mode": None if self.mode is None else str(self.mode),
            "value": self.value,
            "limit": self.limit,
            "location_state": self.location_state,
            "user": self.user,
            "reason": self.reason,
            "details": dict(self.details) if self.details is not None else None,
            "notify": self.notify,
        }

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> AlarmEvent:
        def opt(enum: Any, key: str) -> Any:
            value = record.get(key)
            return None if value is None else enum(value)

        return cls(
            seq=int(record["seq"]),
            id=str(record["id"]),
            ts_ns=int(record["ts_ns"]),
            kind=EventKind(record["kind"]),
            alarm_id=record.get("alarm_id"),
            point=record.get("point"),
            location=record.get("location"),
            channel=record.get("channel"),
            rule=record.get("rule"),
            level=opt(Level, "level"),
            priority=record.get("priority"),
            state=opt(AlarmState, "state"),
            prev_state=opt(AlarmState, "prev_state"),
            mode=opt(Mode, "mode"),
            value=record.get("value"),
            limit=record.get("limit"),
            location_state=record.get("location_state"),
            user=record.get("user"),
            reason=record.get("reason"),
            details=record.get("details"),
        )
