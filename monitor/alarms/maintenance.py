"""Maintenance mode on the readings themselves: quality ``maintenance`` while it is on.

``AlarmService.set_maintenance`` suppresses the alarms of a location, device
or channel. A reading taken meanwhile must say so too, in the store and in
every report (issue 9: "shown on every reading"), so that nobody reads a
value measured with the probe in a calibration bath as room air.

``MaintenanceMarker`` is a ``Pipeline.transform``: a good reading of a
channel under maintenance gets quality ``maintenance`` and the detail
``maintenance mode (<target>)``; its value is kept. A reading that is already
not good keeps its quality (a communication error or a device fault is the
more useful fact) and gets the same note in its detail. The alarm engine
still evaluates the marked values (``EngineCore.evaluate``: a ``maintenance``
reading of a channel it has in maintenance), so alarms during maintenance are
recorded, suppressed, as the alarm states documentation promises; a reading
a device itself reports as ``maintenance`` (a status bit) outside maintenance
mode is not evaluated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from monitor.model import Quality, Reading

if TYPE_CHECKING:
    from monitor.config import LoadedConfig

    from .engine import AlarmEngine

GOOD = Quality.GOOD
MAINTENANCE = Quality.MAINTENANCE


class MaintenanceMarker:
    """Marks readings with the engine's maintenance targets; a no-op while none is set."""

    def __init__(self, engine: AlarmEngine, loaded: LoadedConfig) -> None:
        self.engine = engine
        # each channel's device and location, read where the config keeps them (a copy of
        # them by channel was 1.5 MB at 2,000 devices, read only while maintenance is on)
        self._channels = loaded.channels
        self.marked = 0

    def __call__(self, readings: Sequence[Reading]) -> Sequence[Reading]:
        if not self.engine.maintenance:
            return readings
        find = self.engine.maintenance_target
        channels = self._channels
        out: list[Reading] | None = None
        for i, r in enumerate(readings):
            info = channels.get(r.channel)
            target = None if info is None else find(r.channel, info.device, info.location,
                                                    r.ts_ns)
            if target is None:
                if out is not None:
                    out.append(r)
                continue
            if out is None:
                out = list(readings[:i])
            note = f"maintenance mode ({target})"
            if r.quality is GOOD:
                out.append(r._replace(quality=MAINTENANCE,
                                    detail=note if not r.detail else f"{note}; {r.detail}"))
            else:
                out.append(r._replace(detail=f"{r.detail}; {note}" if r.detail else note))
            self.marked += 1
        return readings if out is None else out
