"""What an operator sees of the alarm points: the open alarms, most urgent first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .events import AlarmState, Mode
from .states import AlarmPoint

PRIORITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


@dataclass(frozen=True)
class AlarmView:
    """One alarm as an operator sees it (``active()``)."""

    alarm_id: int | None
    point: str
    location: str
    channel: str
    rule: str
    level: str
    priority: str
    state: str
    mode: str
    start_ns: int | None
    raised_ns: int | None
    limit: float | None
    peak: float | None
    peak_ns: int | None
    shelved_until: int | None
    shelved_by: str | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def active_views(points: Iterable[AlarmPoint]) -> list[AlarmView]:
    """Alarms not in normal state, and shelved or out-of-service points."""
    views = [_view(p) for p in points
             if p.state is not AlarmState.NORMAL or p.mode is not Mode.IN_SERVICE]
    views.sort(key=lambda v: (PRIORITY_ORDER.get(v.priority, 9), v.raised_ns or 0, v.point))
    return views


def _view(p: AlarmPoint) -> AlarmView:
    return AlarmView(
        alarm_id=p.alarm_id, point=p.key, location=p.location, channel=p.channel, rule=p.rule,
        level=str(p.level), priority=p.priority, state=str(p.state), mode=str(p.mode),
        start_ns=p.episode_start, raised_ns=p.raised_ns, limit=p.limit, peak=p.peak,
        peak_ns=p.peak_ns, shelved_until=p.shelved_until, shelved_by=p.shelved_by,
    )
