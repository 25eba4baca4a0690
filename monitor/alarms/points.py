"""Mappings over every alarm point of a configuration, and a point's row while it is idle.

``Tables.points`` and ``Tables.conditions`` (``monitor.alarms.table``) list
every configured point, including those the engine keeps no object for;
reading one by key makes it live. ``IdleRow`` is what the metrics read of a
point that is not live.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from .conditions import Condition
from .events import AlarmState, Mode
from .states import AlarmPoint

if TYPE_CHECKING:
    from .specs import PointSpec
    from .table import Tables


class IdleRow:
    """A point that is not live, as the metrics read it: normal, in service or suppressed."""

    __slots__ = ("channel", "key", "level", "location", "mode", "priority", "rule", "state")

    def __init__(self, key: str, spec: PointSpec, channel: str, location: str,
                 suppressed: bool) -> None:
        self.key, self.channel, self.location = key, channel, location
        self.rule, self.level, self.priority = spec.rule, spec.level, spec.priority
        self.state = AlarmState.NORMAL
        self.mode = Mode.SUPPRESSED if suppressed else Mode.IN_SERVICE


class PointMap(Mapping[str, AlarmPoint]):
    """Every alarm point of the configuration by key; reading one makes it live."""

    def __init__(self, t: Tables) -> None:
        self._t = t

    def __getitem__(self, key: str) -> AlarmPoint:
        found = self._t.point(key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._t.declared(key)

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._t.catalog())

    def __len__(self) -> int:
        return self._t.count()

    def live(self) -> list[AlarmPoint]:
        return self._t.live_points()


class ConditionMap(Mapping[str, Condition]):
    """Every configured condition by point key; reading one makes it live."""

    def __init__(self, t: Tables) -> None:
        self._t = t

    def __getitem__(self, key: str) -> Condition:
        found = self._t.condition(key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (key in self._t.conds or (
            key not in self._t.pinned and self._t.lookup(key) is not None))

    def __iter__(self) -> Iterator[str]:
        return (key for key, has in self._t.catalog() if has)

    def __len__(self) -> int:
        return sum(1 for _ in self)
