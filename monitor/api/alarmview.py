"""The API's one window onto the alarm engine: reads for views, actions for handlers.

Keeping every call into ``runtime.alarms`` here means the handlers, the web
pages and the metrics agree on what "alarm level" and "state" mean, and a
change in the engine's interface is absorbed in one module.
"""

from __future__ import annotations

from typing import Any

from monitor.runtime import Runtime

LEVEL_ORDER = {"normal": 0, "alert": 1, "action": 2}


class AlarmView:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.service: Any = runtime.alarms
        self._defaults = {name: str(loc.state.default)
                          for name, (_, loc) in runtime.loaded.locations.items()}

    @property
    def available(self) -> bool:
        return self.service is not None

    def limits(self, channel: str) -> dict[str, Any] | None:
        return None

    def channel_level(self, channel: str) -> str:
        return "normal"

    def location_level(self, location: str) -> str:
        return "normal"

    def location_state(self, location: str) -> str:
        return self._defaults[location]

    def maintenance(self, location: str) -> bool:
        return False
