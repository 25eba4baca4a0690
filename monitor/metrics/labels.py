"""The label sets of the per-channel and per-location series, rendered once per runtime.

The configuration fixes them (a reload builds a new runtime and registry), so
the label text is rendered once and shared by every family that has one series
per channel: the latest value, its time and quality, the channel's alarm level
and its limits. A channel's text is pieced together from strings shared per
device and per quantity around its id (``ChannelTable``), written straight into
the answer by ``encode.ChannelFamily``: a few hundred thousand label dicts per
scrape at first, then a string and an object per channel (6.2 MB at 20,000
channels), now ~1 MB of list slots.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from monitor.config import ChannelInfo, LoadedConfig

from .encode import escape, label_part
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


class ChannelTable:
    """Every channel's series labels, in configuration order, as parallel lists.

    A channel's label part (``site="..",...,quantity=".."``, CHANNEL_LABELS
    in order) is ``heads[i] + names[i] + tails[i]``: ``heads`` ends with
    ``channel="`` and is one string per device, ``names`` is the escaped
    channel id (the config's own string when nothing needs escaping),
    ``tails`` one string per quantity. ``value_tails`` ends the part of the
    value family, which carries ``size_um`` for particle counts and ``unit``
    for a unit without a base unit. Nothing is made per channel but list
    slots: an object, a label string and a family name per channel were
    ~310 bytes, 6.2 MB at 20,000 channels; these lists are 48 bytes a channel.
    """

    __slots__ = ("bases", "heads", "ids", "names", "tails", "value_tails")

    def __init__(self, infos: Iterable[ChannelInfo]) -> None:
        self.ids: list[str] = []
        self.heads: list[str] = []
        self.names: list[str] = []
        self.tails: list[str] = []
        self.value_tails: list[str] = []
        self.bases: list[BaseUnit | None] = []
        heads: dict[tuple[str, ...], str] = {}
        tails: dict[tuple[str, str], tuple[str, str, BaseUnit | None]] = {}
        for info in infos:
            device = (info.site, info.room, info.location, info.grade, info.device)
            head = heads.get(device)
            if head is None:
                head = heads[device] = label_part(CHANNEL_LABELS[:5], device) + ',channel="'
            kind = (info.spec.quantity, info.spec.unit)
            tail = tails.get(kind)
            if tail is None:
                tail = tails[kind] = _tails(*kind)
            name = escape(info.id)
            self.ids.append(info.id)
            self.heads.append(head)
            self.names.append(info.id if name == info.id else name)
            self.tails.append(tail[0])
            self.value_tails.append(tail[1])
            self.bases.append(tail[2])

    def __len__(self) -> int:
        return len(self.ids)

    def part(self, i: int) -> str:
        """The label part of channel ``i`` (tests, and families outside the fast path)."""
        return self.heads[i] + self.names[i] + self.tails[i]


def _tails(quantity: str, unit: str) -> tuple[str, str, BaseUnit | None]:
    """The end of a channel's label part after its id, for every family and for the value
    family, and the base unit of its value."""
    base = base_unit(unit)
    tail = '",' + label_part(CHANNEL_LABELS[6:], (quantity,))
    value_tail = tail
    if base is None:
        value_tail = tail + "," + label_part(("unit",), (unit,))
    elif base.suffix == PARTICLES:
        value_tail = tail + "," + label_part(("size_um",), (particle_size(quantity),))
    return tail, value_tail, base


def value_family(base: BaseUnit | None) -> str:
    """The family of a channel's latest value: ``cleanroom_reading_<base unit>``."""
    return f"cleanroom_reading_{base.suffix}" if base else "cleanroom_reading"


@dataclass(frozen=True, slots=True)
class LocationSeries:
    name: str
    labels: tuple[str, ...]
    part: str


class SiteSeries:
    """Every channel's and location's series labels, in configuration order."""

    def __init__(self, loaded: LoadedConfig) -> None:
        self.channels = ChannelTable(loaded.channels.values())
        site = loaded.config.site.id
        self.locations = []
        for name, (room, _loc) in loaded.locations.items():
            labels = (site, room.name, name, room.grade)
            self.locations.append(LocationSeries(name, labels,
                                                 label_part(LOCATION_LABELS, labels)))
        self.by_location = {loc.name: loc for loc in self.locations}
