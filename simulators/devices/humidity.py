"""A temperature / relative-humidity transmitter: slow HVAC drift plus sensor noise."""

from __future__ import annotations

import math

from .base import DeviceModel, dew_point
from .environment import World


class TemperatureHumidityModel(DeviceModel):
    kind = "temperature_humidity"
    fault_names = frozenset({"sensor"})

    def __init__(
        self, name: str, world: World, location: str, *, temperature: float = 20.5,
        humidity: float = 45.0, drift_t: float = 0.4, drift_rh: float = 3.0,
        period_s: float = 4 * 3600.0, seed: int | None = None,
    ) -> None:
        super().__init__(name, world, location, seed)
        self.temperature = temperature
        self.humidity = humidity
        self.drift_t = drift_t
        self.drift_rh = drift_rh
        self.period_s = period_s
        self.phase = self.rng.uniform(0, 2 * math.pi)

    def values(self, now: float) -> dict[str, float]:
        angle = 2 * math.pi * now / self.period_s + self.phase
        t = self.temperature + self.drift_t * math.sin(angle) + self.rng.gauss(0, 0.03)
        rh = self.humidity - self.drift_rh * math.sin(angle) + self.rng.gauss(0, 0.2)
        rh = min(max(rh, 0.0), 100.0)
        if "sensor" in self.faults:
            t, rh = math.nan, math.nan
        return {"temperature": t, "relative_humidity": rh,
                "dew_point": dew_point(t, rh) if not math.isnan(t) else math.nan}

    def conditions(self, now: float) -> set[str]:
        return set(self.faults)
