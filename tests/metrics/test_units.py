"""Unit conversion to Prometheus base units."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.metrics.units import base_unit, reading_family, to_base


@pytest.mark.parametrize(
    ("unit", "value", "family", "expected"),
    [
        ("Pa", 12.5, "cleanroom_reading_pascals", 12.5),
        ("hPa", 0.15, "cleanroom_reading_pascals", 15.0),
        ("inH2O", 0.05, "cleanroom_reading_pascals", 12.4544455),
        ("degC", 21.0, "cleanroom_reading_celsius", 21.0),
        ("degF", 68.0, "cleanroom_reading_celsius", 20.0),
        ("K", 293.15, "cleanroom_reading_celsius", 20.0),
        ("%RH", 45.0, "cleanroom_reading_ratio", 0.45),
        ("%", 5.0, "cleanroom_reading_ratio", 0.05),
        ("ppm", 400.0, "cleanroom_reading_ratio", 0.0004),
        ("particles/m3", 3520.0, "cleanroom_reading_particles_per_cubic_meter", 3520.0),
        # one particle per cubic foot is 35.3 per m³
        ("particles/ft3", 1.0, "cleanroom_reading_particles_per_cubic_meter", 35.3146667),
        ("L/min", 28.3, "cleanroom_reading_cubic_meters_per_second", 0.000471667),
        ("CFM", 1.0, "cleanroom_reading_cubic_meters_per_second", 0.000471947),
        ("ms", 250.0, "cleanroom_reading_seconds", 0.25),
    ],
)
def test_known_units_convert_to_base(unit: str, value: float, family: str,
                                     expected: float) -> None:
    assert reading_family(unit) == family
    assert to_base(unit, value) == pytest.approx(expected, rel=1e-6)


def test_unknown_unit_is_kept_unconverted() -> None:
    assert base_unit("lx") is None
    assert reading_family("lx") == "cleanroom_reading"
    assert to_base("lx", 350.0) == 350.0


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_fahrenheit_round_trip(value: float) -> None:
    celsius = to_base("degF", value)
    assert celsius * 9 / 5 + 32 == pytest.approx(value, abs=1e-6)
