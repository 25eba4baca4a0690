"""The label sets of the per-channel and per-location series, rendered once per runtime.

The configuration fixes them (a reload builds a new runtime and registry), so
each channel's ``site="..",room="..",...`` string is made once and shared by
every family that has one series per channel: the latest value, its time and
quality, the channel's alarm level and its limits. At 20,000 channels this is
~3 MB kept, against a few hundred thousand label dicts per scrape before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from monitor.config import ChannelInfo, LoadedConfig

from .encode import label_part
from .units import PARTICLES, BaseUnit, base_unit

CHANNEL_LABELS = ("site", "room", "location", "grade", "device", "channel", "quantity")
LOCATION_LABELS = ("site", "room", "location", "grade")
_SIZE = re.compile(r"(\d+)_(\d+)\s*um")


def particle_size(quantity: str) -> str:
    """``particles_0_5um`` -> ``0.5``; the size is a label, not part of the metric name."""
    match = _SIZE.search(quantity)
    if not match:
        return ""
    return f"{int(match.group(1))}.{match.group(2)}"


@dataclass(frozen=True, slots=True)
class ChannelSeries:
    """What every per-channel family needs of a channel, computed once.

    ``part`` renders the CHANNEL_LABELS; ``value_part`` adds the label that
    the channel's value family carries besides them (``size_um`` for particle
    counts, ``unit`` for a unit without a base unit) and is ``part`` itself
    otherwise. No label values are kept: ~40 bytes less per channel.
    """

    id: str
    part: str
    family: str
    base: BaseUnit | None
    value_part: str


@dataclass(frozen=True, slots=True)
class LocationSeries:
    name: str
    labels: tuple[str, ...]
    part: str


def channel_series(info: ChannelInfo) -> ChannelSeries:
    base = base_unit(info.spec.unit)
    labels = (info.site, info.room, info.location, info.grade, info.device, info.id,
              info.spec.quantity)
    part = label_part(CHANNEL_LABELS, labels)
    family = f"cleanroom_reading_{base.suffix}" if base else "cleanroom_reading"
    value_part = part
    if base is None:
        value_part = label_part((*CHANNEL_LABELS, "unit"), (*labels, info.spec.unit))
    elif base.suffix == PARTICLES:
        value_part = label_part((*CHANNEL_LABELS, "size_um"),
                                (*labels, particle_size(info.spec.quantity)))
    return ChannelSeries(info.id, part, family, base, value_part)


class SiteSeries:
    """Every channel's and location's series labels, in configuration order."""

    def __init__(self, loaded: LoadedConfig) -> None:
        self.channels = [channel_series(info) for info in loaded.channels.values()]
        site = loaded.config.site.id
        self.locations = []
        for name, (room, _loc) in loaded.locations.items():
            labels = (site, room.name, name, room.grade)
            self.locations.append(LocationSeries(name, labels,
                                                 label_part(LOCATION_LABELS, labels)))
        self.by_location = {loc.name: loc for loc in self.locations}
