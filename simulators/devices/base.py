"""What every simulated device is, whatever protocol later carries its values."""

from __future__ import annotations

import math
import random

from .environment import Location, World


class DeviceModel:
    """A device's physics: values per quantity, and the conditions its status word shows.

    ``faults`` holds named device faults a scenario switched on (``sensor``,
    ``laser``, ``flow``...); ``overrides`` forces a quantity to a value, NaN
    included, to imitate a broken or saturated sensor.
    """

    kind = "generic"
    #: fault names this model understands
    fault_names: frozenset[str] = frozenset({"sensor"})

    def __init__(self, name: str, world: World, location: str, seed: int | None = None) -> None:
        self.name = name
        self.world = world
        self.location: Location = world.location(location)
        self.rng = random.Random(seed if seed is not None else hash(name) & 0xFFFF)
        self.faults: set[str] = set()
        self.overrides: dict[str, float] = {}

    def now(self) -> float:
        return self.world.clock.now()

    def values(self, now: float) -> dict[str, float]:
        """Physical value of every quantity the device measures, at ``now``."""
        raise NotImplementedError

    def read(self, now: float) -> dict[str, float]:
        values = self.values(now)
        values.update(self.overrides)
        return values

    def conditions(self, now: float) -> set[str]:
        """Names of the status-word conditions that hold (matched to profile bit names)."""
        return set(self.faults)

    def set_fault(self, fault: str, active: bool = True) -> None:
        if fault not in self.fault_names:
            raise ValueError(f"{self.kind} has no fault {fault!r} "
                             f"(known: {', '.join(sorted(self.fault_names))})")
        if active:
            self.faults.add(fault)
        else:
            self.faults.discard(fault)

    def force(self, quantity: str, value: float | None) -> None:
        """Force a quantity (NaN, out of range...); ``None`` lets the physics speak again."""
        if value is None:
            self.overrides.pop(quantity, None)
        else:
            self.overrides[quantity] = value


def relax(start: float, target: float, elapsed: float, tau: float) -> float:
    """First-order approach from ``start`` to ``target`` after ``elapsed`` seconds."""
    if elapsed <= 0:
        return start
    return target + (start - target) * math.exp(-elapsed / tau)


def dew_point(temp_c: float, rh: float) -> float:
    """Magnus formula (Sonntag 1990 constants), good to ~0.35 degC over -45..60 degC."""
    a, b = 17.62, 243.12
    gamma = math.log(max(rh, 0.01) / 100.0) + a * temp_c / (b + temp_c)
    return b * gamma / (a - gamma)
