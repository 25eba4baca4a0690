"""A CO2 incubator: setpoints held tightly, disturbed by door openings.

With the door open the chamber loses CO2 quickly (towards room air, 0.04 %)
and warmth more slowly; after the door closes the controller restores CO2
within minutes and temperature over longer. Humidity falls with an open door
and recovers from the water pan. The alarm output follows the controller's
own deviation alarm (|T - set| > 1 degC or |CO2 - set| > 1 %).
"""

from __future__ import annotations

from .base import DeviceModel, relax
from .environment import World

ROOM_T, ROOM_CO2, ROOM_RH = 22.0, 0.04, 45.0


class IncubatorModel(DeviceModel):
    kind = "co2_incubator"
    fault_names = frozenset({"sensor", "co2_supply", "heater"})

    def __init__(
        self, name: str, world: World, location: str, *, set_t: float = 37.0,
        set_co2: float = 5.0, set_o2: float = 20.9, set_rh: float = 93.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(name, world, location, seed)
        self.set_t, self.set_co2, self.set_o2, self.set_rh = set_t, set_co2, set_o2, set_rh
        self.door_open = False
        self.door_changed_at = 0.0
        self._at_change = (set_t, set_co2, set_rh)

    def open_door(self, open_: bool = True) -> None:
        now = self.now()
        if open_ != self.door_open:
            self._at_change = self._state(now)
            self.door_open, self.door_changed_at = open_, now

    def _state(self, now: float) -> tuple[float, float, float]:
        t0, c0, h0 = self._at_change
        since = now - self.door_changed_at
        if not self.door_changed_at:
            return self.set_t, self.set_co2, self.set_rh
        if self.door_open:
            return (relax(t0, ROOM_T, since, 600.0), relax(c0, ROOM_CO2, since, 25.0),
                    relax(h0, ROOM_RH, since, 60.0))
        target_co2 = ROOM_CO2 if "co2_supply" in self.faults else self.set_co2
        target_t = ROOM_T if "heater" in self.faults else self.set_t
        return (relax(t0, target_t, since, 420.0), relax(c0, target_co2, since, 150.0),
                relax(h0, self.set_rh, since, 900.0))

    def set_fault(self, fault: str, active: bool = True) -> None:
        """A heater or CO2-supply fault starts a drift from the present state."""
        now = self.now()
        self._at_change = self._state(now)
        self.door_changed_at = now
        super().set_fault(fault, active)

    def values(self, now: float) -> dict[str, float]:
        t, co2, rh = self._state(now)
        t += self.rng.gauss(0, 0.02)
        co2 += self.rng.gauss(0, 0.02)
        alarm = abs(t - self.set_t) > 1.0 or abs(co2 - self.set_co2) > 1.0
        return {
            "temperature": t, "co2": max(co2, 0.0), "o2": self.set_o2 + self.rng.gauss(0, 0.05),
            "relative_humidity": min(rh + self.rng.gauss(0, 0.2), 100.0),
            "door": 1.0 if self.door_open else 0.0, "alarm": 1.0 if alarm else 0.0,
        }

    def conditions(self, now: float) -> set[str]:
        found = set(self.faults)
        if self.door_open:
            found.add("door open")
        return found
