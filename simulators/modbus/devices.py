"""A simulated device as a Modbus unit: a name, a unit id, a profile, a physics model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor.config.devices import ProfileConfig
from simulators.devices.base import DeviceModel
from simulators.devices.environment import World
from simulators.devices.models import build_model
from simulators.devices.particle_counter import ParticleCounterModel
from simulators.profiles import load_profile

from .maps import CounterMap, ProfileMap, RegisterMapBase


@dataclass
class SimulatedDevice:
    name: str
    unit_id: int
    profile: ProfileConfig
    model: DeviceModel
    strict: bool = False  # True: registers between channels do not exist (exception 2)
    map: RegisterMapBase = field(init=False)

    def __post_init__(self) -> None:
        if self.profile.particle_counter is not None:
            if not isinstance(self.model, ParticleCounterModel):
                raise TypeError(f"{self.name}: a particle counter profile needs a counter model")
            self.map = CounterMap(self.profile, self.model, serial=1000 + self.unit_id)
        else:
            self.map = ProfileMap(self.profile, self.model)


def sim_device(
    world: World, name: str, unit_id: int, profile: str | ProfileConfig, location: str,
    *, strict: bool = False, **model_options: Any,
) -> SimulatedDevice:
    """A simulated device for ``profile`` (a name in config/devices or a model) at ``location``."""
    prof = load_profile(profile) if isinstance(profile, str) else profile
    model = build_model(world, name, prof, location, **model_options)
    return SimulatedDevice(name, unit_id, prof, model, strict)
