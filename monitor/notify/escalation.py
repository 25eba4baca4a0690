"""Escalation: an alarm nobody acknowledged within N minutes goes to a second route.

Pure and clock-driven: ``observe`` follows each alarm's state from the events
(raised -> pending; acknowledged, shelved, taken out of service or retired ->
done), ``due(now_ns)`` returns the escalations whose time has come, once
each. Routes can chain (A escalates to B after 15 min, B to C after 30 min
more). An alarm that returned to normal but is still unacknowledged keeps
waiting: GMP wants every excursion acknowledged.

After a restart the tracker is seeded from the engine's active alarms
(``seed``), timed from when each was raised, so an escalation that was due
during the downtime fires at once (possibly a second time: a repeated page is
safer than a lost one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_UNACKED = frozenset({"active_unack", "rtn_unack"})
_DONE_KINDS = frozenset({"acknowledged", "shelved", "out_of_service", "retired", "suppressed"})


@dataclass(frozen=True)
class Step:
    """Escalate to ``route`` once the alarm has been unacknowledged for ``after_s``."""

    from_route: str
    route: str
    after_s: float


@dataclass
class _Pending:
    since_ns: int
    event: Mapping[str, Any]
    steps: tuple[Step, ...]
    fired: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Escalation:
    step: Step
    event: Mapping[str, Any]
    unacknowledged_s: float

    def to_json(self) -> dict[str, Any]:
        return {"from_route": self.step.from_route, "to_route": self.step.route,
                "after_s": self.step.after_s, "unacknowledged_s": round(self.unacknowledged_s, 1)}


def chains(routes: Mapping[str, tuple[float, str] | None]) -> dict[str, tuple[Step, ...]]:
    """Per route, its escalation steps with cumulative delays (cycles cut)."""
    out: dict[str, tuple[Step, ...]] = {}
    for start in routes:
        steps: list[Step] = []
        seen = {start}
        current, total = start, 0.0
        while (link := routes.get(current)) is not None:
            after, target = link
            total += after
            steps.append(Step(current, target, total))
            if target in seen:
                break
            seen.add(target)
            current = target
        out[start] = tuple(steps)
    return out


class EscalationTracker:
    def __init__(self, routes: Mapping[str, tuple[float, str] | None]) -> None:
        self._chains = chains(routes)
        self.pending: dict[Any, _Pending] = {}
        self.escalated = 0

    def observe(self, event: Mapping[str, Any], routes: Sequence[str]) -> None:
        """Follow one event; ``routes`` are the routes the event matched."""
        alarm = event.get("alarm_id")
        if alarm is None:
            return
        kind = event.get("kind")
        state = event.get("state")
        if kind in _DONE_KINDS or (state is not None and state not in _UNACKED):
            self.pending.pop(alarm, None)
            return
        if kind in ("raised", "unshelved", "in_service") and state in _UNACKED:
            steps = tuple(s for r in routes for s in self._chains.get(r, ()))
            if not steps:
                return
            known = self.pending.get(alarm)
            if known is not None and kind == "raised":
                return  # raised again before an acknowledgement: keep the first start
            since = event.get("ts_ns") or 0
            self.pending[alarm] = _Pending(int(since), event, steps)

    def seed(self, active: Iterable[Mapping[str, Any]], route_of: Any) -> None:
        """Start tracking alarms that were unacknowledged before a restart.

        ``active`` are AlarmView dicts; ``route_of(view)`` gives the routes they match.
        """
        for view in active:
            if view.get("state") not in _UNACKED or view.get("mode") not in (None, "in_service"):
                continue
            alarm = view.get("alarm_id")
            since = view.get("raised_ns") or view.get("start_ns")
            if alarm is None or since is None or alarm in self.pending:
                continue
            steps = tuple(s for r in route_of(view) for s in self._chains.get(r, ()))
            if steps:
                event = {**view, "kind": "raised", "ts_ns": since}
                self.pending[alarm] = _Pending(int(since), event, steps)

    def due(self, now_ns: int) -> list[Escalation]:
        out = []
        for pending in self.pending.values():
            waited = (now_ns - pending.since_ns) / 1e9
            for index, step in enumerate(pending.steps):
                if index not in pending.fired and waited >= step.after_s:
                    pending.fired.add(index)
                    out.append(Escalation(step, pending.event, waited))
        self.escalated += len(out)
        return out
