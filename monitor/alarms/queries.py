"""The alarm service's reads: open alarms, location states, excursions, the log, counters.

A mixin of ``AlarmService`` (``monitor.alarms.service``), kept apart from the
actions so that each module reads in one sitting. Reads of live state take
the service's mutex; reads of the log do not need it (SQLite serialises).
"""

from __future__ import annotations

import threading
from typing import Any

from monitor.integrity import ChainProblem

from .base import Counters
from .engine import AlarmEngine
from .eventlog import EventLog
from .events import AlarmEvent
from .excursions import Excursion, fold
from .views import AlarmView


class AlarmQueries:
    engine: AlarmEngine
    log: EventLog
    _mutex: threading.Lock

    def active(self) -> list[AlarmView]:
        with self._mutex:
            return self.engine.active()

    def location_state(self, location: str) -> str | None:
        """The state in force at ``location`` now (at_rest / in_operation), None if unknown."""
        rt = self.engine.t.locations.get(location)
        return None if rt is None else rt.state

    def location_states(self) -> dict[str, dict[str, Any]]:
        with self._mutex:
            return {name: {"state": t.rt.state, "source": t.source,
                           "manual_until_ns": t.manual.until_ns if t.manual else None}
                    for name, t in self.engine.t.trackers.items()}

    def excursions(self, from_ns: int, to_ns: int,
                   location: str | None = None) -> list[Excursion]:
        """Excursions overlapping [from_ns, to_ns), oldest first."""
        ids = self.log.alarm_ids_between(from_ns, to_ns, location)
        found = fold(self.log.events_of_alarms(ids)).values()
        out = [e for e in found if e.raised_ns < to_ns and (
            e.closed_ns is None or e.closed_ns >= from_ns)]
        return sorted(out, key=lambda e: (e.start_ns, e.alarm_id))

    def excursion(self, alarm_id: int) -> Excursion | None:
        return fold(self.log.events(alarm_id=alarm_id)).get(alarm_id)

    def events(self, **filters: Any) -> list[AlarmEvent]:
        return self.log.events(**filters)

    def verify(self) -> ChainProblem | None:
        return self.log.verify()

    @property
    def counters(self) -> Counters:
        return self.engine.counters
