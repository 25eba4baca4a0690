"""The ISA-18.2 state machine of one alarm point, and the point itself.

An alarm point is one rule on one channel (``pc-1/p05:high_action``) or one
device (``pc-1:comm_failure``). Its alarm state moves only along the edges of
``TRANSITIONS``; every move is an event. Shelving, maintenance suppression and
out-of-service sit over the alarm state as a mode: they change what is
annunciated, never what is recorded.

Latching (action alarms by default): once acknowledged while active, the alarm
does not go back to normal on its own when the condition clears; it waits in
``rtn_unack`` for a second acknowledgement (the "reset"). Non-latching alarms
acknowledged while active return to normal when the condition clears.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from monitor.errors import AlarmError

from .events import AlarmState, EventKind, Level, Mode

N, AU, AA, RU = (AlarmState.NORMAL, AlarmState.ACTIVE_UNACK, AlarmState.ACTIVE_ACK,
                 AlarmState.RTN_UNACK)

ACTIVATE, CLEAR, ACK = "activate", "clear", "ack"

TRANSITIONS: Mapping[tuple[AlarmState, str], AlarmState] = {
    (N, ACTIVATE): AU,
    (RU, ACTIVATE): AU,  # the condition returned before anyone acknowledged: same alarm
    (AU, ACK): AA,
    (AU, CLEAR): RU,
    (AA, CLEAR): N,
    (RU, ACK): N,
}
LATCHING: Mapping[tuple[AlarmState, str], AlarmState] = {(AA, CLEAR): RU}

LEGAL_EDGES = frozenset(
    {(s, t) for (s, _), t in TRANSITIONS.items()} | {(s, t) for (s, _), t in LATCHING.items()}
)
"""Every (before, after) pair an event may show; a same-state event (mode change) is legal too."""


def next_state(state: AlarmState, trigger: str, latching: bool) -> AlarmState | None:
    """The state after ``trigger``, or None when the trigger does not apply in ``state``."""
    if latching:
        hit = LATCHING.get((state, trigger))
        if hit is not None:
            return hit
    return TRANSITIONS.get((state, trigger))


class Emitter(Protocol):
    """What a point needs from the engine: time-ordered event creation and alarm ids."""

    peak_interval_ns: int
    timers: dict[Any, None]  # conditions whose delay may be running, for the tick

    def emit(self, src: AlarmPoint | None, ts_ns: int, kind: EventKind, **fields: Any) -> None:
        ...

    def new_alarm_id(self) -> int: ...


class AlarmPoint:
    """State of one alarm point. Mutated only by the engine, through these methods."""

    __slots__ = (
        "alarm_id", "channel", "device", "episode_start", "key", "latching", "level",
        "limit", "location", "oos", "order", "peak", "peak_logged", "peak_ns", "priority",
        "raised_ns", "rule", "shelved_by", "shelved_until", "sign", "state", "suppressed",
    )

    def __init__(
        self, key: str, *, location: str, channel: str, device: str, rule: str, level: Level,
        priority: str, latching: bool, sign: float = 0.0,
    ) -> None:
        self.key, self.location, self.channel, self.device = key, location, channel, device
        self.rule, self.level, self.priority, self.latching = rule, level, priority, latching
        self.sign = sign  # +1 high rules, -1 low rules, 0 when "peak" means nothing
        self.state = AlarmState.NORMAL
        self.alarm_id: int | None = None
        self.shelved_until: int | None = None
        self.shelved_by: str | None = None
        self.suppressed = False
        self.oos = False
        self.episode_start: int | None = None
        self.raised_ns: int | None = None
        self.limit: float | None = None
        self.peak: float | None = None
        self.peak_ns: int | None = None
        self.peak_logged = 0
        self.order = 0  # its place in the configuration (monitor.alarms.table)

    @property
    def mode(self) -> Mode:
        if self.oos:
            return Mode.OUT_OF_SERVICE
        if self.suppressed:
            return Mode.SUPPRESSED
        if self.shelved_until is not None:
            return Mode.SHELVED
        return Mode.IN_SERVICE

    def _move(self, trigger: str) -> tuple[AlarmState, AlarmState]:
        prev = self.state
        new = next_state(prev, trigger, self.latching)
        if new is None:
            raise AlarmError(f"{self.key}: cannot {trigger} an alarm in state {prev}")
        self.state = new
        return prev, new

    # --- condition changes (from the rules) ---------------------------------------------

    def activate(self, em: Emitter, ts: int, value: float | None, *, limit: float | None,
                 location_state: str | None, details: Mapping[str, Any]) -> None:
        if self.state is N:
            self.alarm_id = em.new_alarm_id()
            self.episode_start = self.raised_ns = ts
            self.peak, self.peak_ns, self.peak_logged = value, ts, ts
        prev, new = self._move(ACTIVATE)
        self.limit = limit
        em.emit(self, ts, EventKind.RAISED, state=new, prev_state=prev, value=value, limit=limit,
                location_state=location_state, details=details)

    def deactivate(self, em: Emitter, ts: int, value: float | None,
                   details: Mapping[str, Any]) -> None:
        prev, new = self._move(CLEAR)
        full = {**details, "peak": self.peak, "peak_ns": self.peak_ns}
        em.emit(self, ts, EventKind.CLEARED, state=new, prev_state=prev, value=value,
                limit=self.limit, details=full)
        if new is N:
            self._end_episode()

    def observe(self, em: Emitter, ts: int, value: float) -> None:
        """A value during an open excursion: keep the extreme, record it now and then."""
        peak = self.peak
        if peak is None or (value - peak) * self.sign > 0:
            self.peak, self.peak_ns = value, ts
            if ts - self.peak_logged >= em.peak_interval_ns:
                self.peak_logged = ts
                em.emit(self, ts, EventKind.PEAK, state=self.state, prev_state=self.state,
                        value=value, limit=self.limit)

    # --- operator actions ----------------------------------------------------------------

    def acknowledge(self, em: Emitter, ts: int, user: str, reason: str,
                    details: Mapping[str, Any] | None) -> None:
        if self.state in (N, AA):
            raise AlarmError(f"alarm {self.alarm_id or self.key} is {self.state}: "
                             "nothing to acknowledge")
        prev, new = self._move(ACK)
        em.emit(self, ts, EventKind.ACKNOWLEDGED, state=new, prev_state=prev, user=user,
                reason=reason, details=details)
        if new is N:
            self._end_episode()

    def shelve(self, em: Emitter, ts: int, user: str, reason: str, until_ns: int) -> None:
        self.shelved_until, self.shelved_by = until_ns, user
        em.emit(self, ts, EventKind.SHELVED, state=self.state, prev_state=self.state, user=user,
                reason=reason, details={"until_ns": until_ns})

    def unshelve(self, em: Emitter, ts: int, user: str, reason: str) -> None:
        if self.shelved_until is None:
            raise AlarmError(f"{self.key} is not shelved")
        self.shelved_until = self.shelved_by = None
        em.emit(self, ts, EventKind.UNSHELVED, state=self.state, prev_state=self.state,
                user=user, reason=reason)

    def set_suppressed(self, em: Emitter, ts: int, on: bool, *, user: str, reason: str,
                       target: str) -> None:
        if self.suppressed == on:
            return
        self.suppressed = on
        if self.state is not N:  # normal points change silently; the maintenance event says it
            kind = EventKind.SUPPRESSED if on else EventKind.UNSUPPRESSED
            em.emit(self, ts, kind, state=self.state, prev_state=self.state, user=user,
                    reason=reason, details={"target": target})

    def set_out_of_service(self, em: Emitter, ts: int, on: bool, user: str, reason: str) -> None:
        if self.oos == on:
            raise AlarmError(f"{self.key} is already {'out of' if on else 'in'} service")
        self.oos = on
        kind = EventKind.OUT_OF_SERVICE if on else EventKind.IN_SERVICE
        em.emit(self, ts, kind, state=self.state, prev_state=self.state, user=user,
                reason=reason)

    def retire(self, em: Emitter, ts: int) -> None:
        """The rule is gone from the config: end the condition, keep the acknowledgement due."""
        if self.state in (AU, AA):
            prev, new = self.state, (RU if self.state is AU or self.latching else N)
            self.state = new
        else:
            prev = new = self.state
        em.emit(self, ts, EventKind.RETIRED, state=new, prev_state=prev, limit=self.limit,
                reason="rule removed from the configuration",
                details={"peak": self.peak, "peak_ns": self.peak_ns, "end_ns": ts})
        if new is N:
            self._end_episode()

    def _end_episode(self) -> None:
        self.alarm_id = None
        self.episode_start = self.raised_ns = self.limit = self.peak = self.peak_ns = None
