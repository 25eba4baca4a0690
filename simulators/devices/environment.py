"""The rooms the simulated devices sit in: occupancy, particle burden, doors.

Particle concentrations follow the ISO 14644-1 size distribution,
C(>=D) = C(>=0.5 um) x (0.5 / D)^2.08, around a >=0.5 um level that depends
on whether the location is at rest or in operation; a scenario can override
any size's level to script an excursion.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .clock import SimClock

SIZE_EXPONENT = 2.08


def size_of(quantity: str) -> float | None:
    """``particles_0_5um`` -> 0.5; None for other quantities."""
    if not quantity.startswith("particles_") or not quantity.endswith("um"):
        return None
    try:
        return float(quantity[len("particles_"):-2].replace("_", "."))
    except ValueError:
        return None


@dataclass
class Location:
    """One sampling location's conditions as the devices there experience them.

    Changes are kept with their time, so that a counter filing a sample later
    (records are made lazily) counts what the room held while it sampled.
    """

    name: str
    state: str = "at_rest"  # or "in_operation"
    at_rest_0_5: float = 800.0  # particles/m3 >= 0.5 um (a clean grade A/B room)
    in_operation_0_5: float = 60_000.0
    overrides: dict[float, float] = field(default_factory=dict)  # size -> particles/m3
    door_open: bool = False
    door_changed_at: float = 0.0
    clock: SimClock | None = None
    history: list[tuple[float, str, float, float, dict[float, float]]] = field(
        default_factory=list)

    def concentration(self, size_um: float, when: float | None = None) -> float:
        """Cumulative particles/m3 >= ``size_um`` (at time ``when``, default now)."""
        state, at_rest, in_op = self.state, self.at_rest_0_5, self.in_operation_0_5
        overrides = self.overrides
        if when is not None:
            for changed_at, st, rest, busy, over in reversed(self.history):
                if changed_at <= when:
                    break
                state, at_rest, in_op, overrides = st, rest, busy, over  # before this change
        if size_um in overrides:
            return overrides[size_um]
        base = in_op if state == "in_operation" else at_rest
        if 0.5 in overrides:
            base = overrides[0.5]
        return float(base * (0.5 / size_um) ** SIZE_EXPONENT)

    def set(self, at: float | None = None, **values: object) -> None:
        """Script a change: ``state=``, ``particles_0_5um=``..., ``clear_particles=True``.

        ``at`` is when it happened (default now), for a scenario applying it late.
        """
        if self.clock is not None:
            when = self.clock.now() if at is None else at
            self.history.append((when, self.state, self.at_rest_0_5,
                                 self.in_operation_0_5, dict(self.overrides)))
            del self.history[:-1000]
        for key, value in values.items():
            if key == "state":
                if value not in ("at_rest", "in_operation"):
                    raise ValueError(f"state must be at_rest or in_operation, not {value!r}")
                self.state = str(value)
            elif key == "clear_particles":
                self.overrides.clear()
            elif key in ("at_rest_0_5", "in_operation_0_5"):
                setattr(self, key, float(value))  # type: ignore[arg-type]
            elif (size := size_of(key)) is not None:
                if value is None:
                    self.overrides.pop(size, None)
                else:
                    self.overrides[size] = float(value)  # type: ignore[arg-type]
            else:
                raise ValueError(f"unknown location setting {key!r}")


class World:
    """The clock and the locations every device model reads."""

    def __init__(self, clock: SimClock | None = None) -> None:
        self.clock = clock or SimClock()
        self.locations: dict[str, Location] = {}

    def location(self, name: str) -> Location:
        """The location named ``name``, created at rest with default levels if new."""
        if name not in self.locations:
            self.locations[name] = Location(name, clock=self.clock)
        return self.locations[name]

    def set_door(self, name: str, open_: bool, at: float | None = None) -> None:
        loc = self.location(name)
        if loc.door_open != open_:
            loc.door_open = open_
            loc.door_changed_at = self.clock.now() if at is None else at
