"""Configured units to Prometheus base units, so that metric names carry one unit each.

Prometheus asks for base units in metric names (seconds, pascals, celsius,
ratios instead of percent). A channel configured in ``hPa`` or ``%RH`` is
exported converted, under a family named after the base unit, e.g.
``cleanroom_reading_pascals`` or ``cleanroom_reading_ratio``. A unit not listed
here is exported unconverted in ``cleanroom_reading`` with a ``unit`` label, so
no channel is ever dropped for having an unusual unit.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BaseUnit:
    """``base = value * scale + offset``; ``suffix`` ends the metric name."""

    suffix: str
    scale: float = 1.0
    offset: float = 0.0

    def convert(self, value: float) -> float:
        return value * self.scale + self.offset


PASCALS = "pascals"
CELSIUS = "celsius"
RATIO = "ratio"
PARTICLES = "particles_per_cubic_meter"
FLOW = "cubic_meters_per_second"
SECONDS = "seconds"

_FT3_PER_M3 = 35.314666721  # 1 m³ = 35.3147 ft³
_UNITS: dict[str, BaseUnit] = {
    # pressure
    "pa": BaseUnit(PASCALS),
    "hpa": BaseUnit(PASCALS, 100.0),
    "mbar": BaseUnit(PASCALS, 100.0),
    "kpa": BaseUnit(PASCALS, 1000.0),
    "bar": BaseUnit(PASCALS, 100_000.0),
    "psi": BaseUnit(PASCALS, 6894.757293),
    "inh2o": BaseUnit(PASCALS, 249.08891),
    "mmh2o": BaseUnit(PASCALS, 9.80665),
    # temperature
    "degc": BaseUnit(CELSIUS),
    "°c": BaseUnit(CELSIUS),
    "c": BaseUnit(CELSIUS),
    "celsius": BaseUnit(CELSIUS),
    "degf": BaseUnit(CELSIUS, 5.0 / 9.0, -32.0 * 5.0 / 9.0),
    "°f": BaseUnit(CELSIUS, 5.0 / 9.0, -32.0 * 5.0 / 9.0),
    "k": BaseUnit(CELSIUS, 1.0, -273.15),
    # fractions: relative humidity, CO2 and O2 concentration
    "%": BaseUnit(RATIO, 0.01),
    "%rh": BaseUnit(RATIO, 0.01),
    "% rh": BaseUnit(RATIO, 0.01),
    "percent": BaseUnit(RATIO, 0.01),
    "ratio": BaseUnit(RATIO),
    "ppm": BaseUnit(RATIO, 1e-6),
    # particle concentration
    "particles/m3": BaseUnit(PARTICLES),
    "particles/m³": BaseUnit(PARTICLES),
    "/m3": BaseUnit(PARTICLES),
    "particles/ft3": BaseUnit(PARTICLES, _FT3_PER_M3),
    "particles/ft³": BaseUnit(PARTICLES, _FT3_PER_M3),
    "particles/l": BaseUnit(PARTICLES, 1000.0),
    # air flow of a particle counter
    "l/min": BaseUnit(FLOW, 1.0 / 60_000.0),
    "lpm": BaseUnit(FLOW, 1.0 / 60_000.0),
    "cfm": BaseUnit(FLOW, 1.0 / (_FT3_PER_M3 * 60.0)),
    "m3/s": BaseUnit(FLOW),
    # sampled air volume of a particle-counter record
    "l": BaseUnit("cubic_meters", 0.001),
    "m3": BaseUnit("cubic_meters"),
    "ft3": BaseUnit("cubic_meters", 1.0 / _FT3_PER_M3),
    # time and speed
    "s": BaseUnit(SECONDS),
    "ms": BaseUnit(SECONDS, 0.001),
    "min": BaseUnit(SECONDS, 60.0),
    "h": BaseUnit(SECONDS, 3600.0),
    "m/s": BaseUnit("meters_per_second"),
}


def base_unit(unit: str) -> BaseUnit | None:
    """The base unit a configured unit converts to, or None when it has none we know."""
    return _UNITS.get(unit.strip().lower())


def reading_family(unit: str) -> str:
    """Metric family name of a channel's latest value, e.g. ``cleanroom_reading_pascals``."""
    base = base_unit(unit)
    return f"cleanroom_reading_{base.suffix}" if base else "cleanroom_reading"


def to_base(unit: str, value: float) -> float:
    base = base_unit(unit)
    return base.convert(value) if base else value
