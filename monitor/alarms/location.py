"""A location's at-rest / in-operation state: manual setting, input, schedule, default.

GMP limits depend on the state (Annex 1 Grade B: 3,520/m³ at rest, 352,000/m³
in operation), so the state in force is part of every evaluation and every
excursion record. Precedence, highest first: an authorised manual setting
(audited; optionally until a time), the input channel (a "production running"
contact), the weekly schedule (site time zone, DST-aware), the default.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.config.site import ScheduleWindow, StateConfig

from .conditions import LocationRt

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NS = 1_000_000_000


@dataclass(frozen=True)
class Window:
    days: frozenset[int]  # 0 = Monday
    start: int  # minute of the day
    end: int
    state: str

    @classmethod
    def from_config(cls, w: ScheduleWindow) -> Window:
        def minutes(text: str) -> int:
            hours, mins = text.split(":")
            return int(hours) * 60 + int(mins)

        return cls(frozenset(DAYS.index(d) for d in w.days), minutes(w.start), minutes(w.end),
                   str(w.state))

    def covers(self, weekday: int, minute: int) -> bool:
        if self.start < self.end:
            return weekday in self.days and self.start <= minute < self.end
        # runs past midnight: the evening of a listed day and the morning after it
        return (weekday in self.days and minute >= self.start) or (
            (weekday - 1) % 7 in self.days and minute < self.end
        )


@dataclass(frozen=True)
class Manual:
    state: str
    until_ns: int | None
    user: str
    reason: str


class LocationTracker:
    """Decides the state of one location; the engine applies and records the changes.

    ``watch`` (shared by the trackers of one configuration) holds every tracker
    that has a manual state or a clean-up period running, so that the engine's
    tick need not ask the others, which time alone cannot change, except
    those with a schedule.
    """

    __slots__ = ("_manual", "_rest_pending", "clean_up_ns", "default", "index", "input_channel",
                 "input_state", "input_zero_means_operation", "next_check_ns", "rt", "source",
                 "tz", "watch", "windows")

    def __init__(self, rt: LocationRt, config: StateConfig, timezone: str, *, index: int = 0,
                 watch: dict[LocationTracker, None] | None = None) -> None:
        self.rt = rt
        self.index = index  # its place in the configuration
        self.watch: dict[LocationTracker, None] = {} if watch is None else watch
        self._manual: Manual | None = None
        self._rest_pending: int | None = None
        self.default = sys.intern(str(config.default))  # one string for all locations
        self.windows = tuple(Window.from_config(w) for w in config.schedule)
        self.tz = ZoneInfo(timezone)
        self.input_channel = config.input
        self.input_zero_means_operation = config.input_in_operation_when == "zero"
        self.input_state: str | None = None
        self.source = "default"
        self.next_check_ns = 0  # schedules are re-read once a minute
        self.clean_up_ns = int(config.clean_up * NS)

    @property
    def name(self) -> str:
        return self.rt.name

    @property
    def manual(self) -> Manual | None:
        return self._manual

    @manual.setter
    def manual(self, value: Manual | None) -> None:
        self._manual = value
        if value is not None:
            self.watch[self] = None

    @property
    def rest_pending_since(self) -> int | None:
        """When operations ended, while the clean-up period runs."""
        return self._rest_pending

    @rest_pending_since.setter
    def rest_pending_since(self, value: int | None) -> None:
        self._rest_pending = value
        if value is not None:
            self.watch[self] = None

    def timed(self) -> bool:
        """True when ``due`` may ever say so: a schedule, a manual state, a clean-up running."""
        return bool(self.windows) or self._manual is not None or self._rest_pending is not None

    def schedule_state(self, now_ns: int) -> str | None:
        if not self.windows:
            return None
        local = datetime.fromtimestamp(now_ns / NS, UTC).astimezone(self.tz)
        weekday, minute = local.weekday(), local.hour * 60 + local.minute
        for window in self.windows:
            if window.covers(weekday, minute):
                return window.state
        return self.default

    def wanted(self, now_ns: int) -> tuple[str, str]:
        """(state, source) that should be in force at ``now_ns``."""
        manual = self.manual
        if manual is not None and (manual.until_ns is None or now_ns < manual.until_ns):
            return manual.state, "manual"
        if self.input_state is not None:
            return self.input_state, f"input {self.input_channel}"
        scheduled = self.schedule_state(now_ns)
        if scheduled is not None:
            return scheduled, "schedule"
        return self.default, "default"

    def input_value(self, value: float) -> None:
        nonzero = value != 0
        in_operation = nonzero != self.input_zero_means_operation
        self.input_state = "in_operation" if in_operation else "at_rest"

    def due(self, now_ns: int) -> bool:
        """True when time alone may have changed the wanted state (minute boundary, expiry)."""
        manual = self.manual
        if manual is not None and manual.until_ns is not None and now_ns >= manual.until_ns:
            return True
        if self.rest_pending_since is not None:
            return True
        if self.windows and now_ns >= self.next_check_ns:
            self.next_check_ns = _next_minute(now_ns)
            return True
        return False


def _next_minute(now_ns: int) -> int:
    t = datetime.fromtimestamp(now_ns // NS, UTC).replace(second=0) + timedelta(minutes=1)
    return int(t.timestamp()) * NS
