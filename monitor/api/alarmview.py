"""The API's one window onto the alarm service: reads for views and metrics, in one place.

Keeping every read of ``runtime.alarms`` here means the JSON API, the web
pages and the metrics agree on what "alarm level" and "limits in force"
mean. Limits come from the engine's rule tables (already resolved per
location state at load time), so what is shown is what is enforced.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from monitor.audit import iso_utc
from monitor.runtime import Runtime

#: Severity order of a channel's or location's alarm level. A health alarm (stale data,
#: no communication, device fault) means the value is unknown: worse than an alert
#: limit, not as bad as a known action-limit excursion.
LEVELS = ("normal", "alert", "no_data", "action")
_FROM_RULE = {"alert": "alert", "action": "action", "health": "no_data"}
LIMIT_NAMES = ("high_alert", "high_action", "low_alert", "low_action")
ACTIVE_STATES = frozenset({"active_unack", "active_ack"})
UNACKED_STATES = frozenset({"active_unack", "rtn_unack"})


def level_of(alarms: Iterable[Any]) -> str:
    """Worst level among alarms whose condition holds (acknowledged or not)."""
    worst = 0
    for alarm in alarms:
        level = _FROM_RULE.get(str(alarm.level))
        if str(alarm.state) in ACTIVE_STATES and level is not None:
            worst = max(worst, LEVELS.index(level))
    return LEVELS[worst]


def alarm_json(alarm: Any) -> dict[str, Any]:
    """An ``AlarmView`` of the engine with UTC times spelled out."""
    out: dict[str, Any] = dict(alarm.to_json())
    for key in ("start_ns", "raised_ns", "peak_ns", "shelved_until"):
        value = out.get(key)
        name = "shelved_until_ts" if key == "shelved_until" else key.removesuffix("_ns") + "_ts"
        out[name] = iso_utc(value) if isinstance(value, int) else None
    out["id"] = alarm.alarm_id if alarm.alarm_id is not None else alarm.point
    out["acknowledgeable"] = alarm.state in ("active_unack", "rtn_unack")
    out["shelved"] = alarm.mode == "shelved"
    return out


class AlarmAccess:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.service: Any = runtime.alarms
        self._defaults = {name: str(loc.state.default)
                          for name, (_, loc) in runtime.loaded.locations.items()}
        self._active: list[Any] | None = None

    @property
    def available(self) -> bool:
        return self.service is not None

    def active(self) -> list[Any]:
        """Alarms not normal, and shelved/suppressed/out-of-service points (cached per view)."""
        if self._active is None:
            self._active = list(self.service.active()) if self.service is not None else []
        return self._active

    def points(self) -> list[Any]:
        """Every alarm point of the configuration, normal ones included (for the metrics);
        points the engine keeps no object for are rows with their state and mode."""
        if self.service is None:
            return []
        return list(self.service.engine.t.point_rows())

    def _in_force(self, channel: str) -> list[Any]:
        if self.service is None:
            return []
        ch = self.service.engine.t.channels.get(channel)
        return list(ch.limits_in_force()) if ch is not None else []

    def limits(self, channel: str) -> dict[str, Any] | None:
        """Alert/action limits in force now (for the location's current state)."""
        out: dict[str, Any] = {}
        for values in self._in_force(channel):
            for name in LIMIT_NAMES:
                if values.get(name) is not None:
                    out[name] = float(values[name])
            out["state"] = values.get("state")
            if values.get("high_action_source"):
                out["source"] = values["high_action_source"]
        return out or None

    def channel_level(self, channel: str) -> str:
        return level_of(a for a in self.active() if a.channel == channel)

    def location_level(self, location: str) -> str:
        return level_of(a for a in self.active() if a.location == location)

    def location_state(self, location: str) -> str:
        if self.service is not None:
            rt = self.service.engine.t.locations.get(location)
            if rt is not None:
                return str(rt.state)
        return self._defaults[location]

    def location_states(self) -> dict[str, dict[str, Any]]:
        if self.service is None:
            return {name: {"state": s, "source": "default", "manual_until_ns": None}
                    for name, s in self._defaults.items()}
        states: dict[str, dict[str, Any]] = self.service.location_states()
        return states

    def maintenance(self, target: str) -> bool:
        if self.service is None:
            return False
        return target in self.service.engine.maintenance
