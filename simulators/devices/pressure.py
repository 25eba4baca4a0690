"""A differential-pressure transmitter between a room and its lower-grade neighbour.

The cascade holds ``nominal_pa`` with a little sensor and turbulence noise;
opening the door between the rooms collapses it towards ``door_open_pa``
within a second or two, and closing it lets the HVAC restore it over several
seconds (first-order, ``recovery_tau``): the short dips that make DP alarms
need delays.
"""

from __future__ import annotations

from .base import DeviceModel, relax
from .environment import World


class DifferentialPressureModel(DeviceModel):
    kind = "differential_pressure"
    fault_names = frozenset({"sensor", "over_range"})

    def __init__(
        self, name: str, world: World, location: str, *, nominal_pa: float = 15.0,
        noise_pa: float = 0.3, door_open_pa: float = 1.5, drop_tau: float = 0.8,
        recovery_tau: float = 4.0, seed: int | None = None,
    ) -> None:
        super().__init__(name, world, location, seed)
        self.nominal_pa = nominal_pa
        self.noise_pa = noise_pa
        self.door_open_pa = door_open_pa
        self.drop_tau = drop_tau
        self.recovery_tau = recovery_tau

    def _level(self, now: float) -> float:
        loc = self.location
        since = now - loc.door_changed_at
        if loc.door_open:
            return relax(self.nominal_pa, self.door_open_pa, since, self.drop_tau)
        # the dip the door left behind, if it closed recently (assume it was open >= 3 tau)
        if loc.door_changed_at and since < 10 * self.recovery_tau:
            return relax(self.door_open_pa, self.nominal_pa, since, self.recovery_tau)
        return self.nominal_pa

    def values(self, now: float) -> dict[str, float]:
        dp = self._level(now) + self.rng.gauss(0.0, self.noise_pa)
        return {"differential_pressure": dp}
