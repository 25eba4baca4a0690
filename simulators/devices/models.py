"""Pick the physics model that matches a profile's kind."""

from __future__ import annotations

from typing import Any

from monitor.config.devices import ProfileConfig

from .base import DeviceModel
from .environment import World, size_of
from .humidity import TemperatureHumidityModel
from .incubator import IncubatorModel
from .particle_counter import ParticleCounterModel
from .pressure import DifferentialPressureModel


def build_model(world: World, name: str, profile: ProfileConfig, location: str,
                **options: Any) -> DeviceModel:
    if profile.kind == "particle_counter":
        sizes = tuple(s for c in profile.channels if (s := size_of(c.quantity)) is not None)
        pc = profile.particle_counter
        options.setdefault("sizes", sizes or (0.3, 0.5, 1.0, 5.0))
        if pc is not None:
            options.setdefault("differential", pc.counts == "differential")
            if pc.flow_address is None:
                options.setdefault("flow_lpm", pc.nominal_flow_lpm)
        return ParticleCounterModel(name, world, location, **options)
    if profile.kind == "differential_pressure":
        return DifferentialPressureModel(name, world, location, **options)
    if profile.kind == "co2_incubator":
        return IncubatorModel(name, world, location, **options)
    if profile.kind == "temperature_humidity":
        return TemperatureHumidityModel(name, world, location, **options)
    raise ValueError(f"no simulator model for profile kind {profile.kind!r}")
