"""The label sets of the per-channel and per-location series, rendered once per runtime.

The configuration fixes them (a reload builds a new runtime and registry), so
the label text is rendered once and shared by every family that has one series
per channel: the latest value, its time and quality, the channel's alarm level
and its limits. A channel's text is pieced together from strings shared per
device and per quantity around its id (``ChannelTable``), written straight into
the answer by ``encode.ChannelFamily``: a few hundred thousand label dicts per
scrape at first, then a string and an object per channel (6.2 MB at 20,000
channels), then ~1 MB of list slots, now an id slot and two array indexes per
channel (~0.24 MB).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterable, Iterator, Mapping

from monitor.config import ChannelInfo, LoadedConfig
from monitor.config.site import LocationConfig, RoomConfig

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
    """Every channel's series labels, in configuration order, from pieces shared per device
    and per kind of channel.

    A channel's label part (``site="..",...,quantity=".."``, CHANNEL_LABELS
    in order) is ``heads[devices[i]] + names[i] + tails[kinds[i]]``: ``heads``
    ends with ``channel="`` and is one string per device, ``names`` is the
    escaped channel id (``names is ids`` when no id needs escaping, the usual
    case), ``tails`` one string per kind (quantity and unit). ``value_tails``
    ends the part of the value family, which carries ``size_um`` for particle
    counts and ``unit`` for a unit without a base unit; ``kind_bases`` is the
    kind's base unit. Per channel there are an id slot and two small integers:
    a list slot per channel and piece (six lists, ~1 MB at 20,000 channels)
    became ``ids`` and two arrays of 2-byte indexes (~0.24 MB).
    """

    __slots__ = ("devices", "heads", "ids", "kind_bases", "kinds", "names", "tails",
                 "value_tails")

    def __init__(self, infos: Iterable[ChannelInfo]) -> None:
        self.ids: list[str] = []
        self.heads: list[str] = []
        self.tails: list[str] = []
        self.value_tails: list[str] = []
        self.kind_bases: list[BaseUnit | None] = []
        escaped: dict[int, str] = {}
        devices: list[int] = []
        kinds: list[int] = []
        device_index: dict[tuple[str, ...], int] = {}
        kind_index: dict[tuple[str, str], int] = {}
        for info in infos:
            device = (info.site, info.room, info.location, info.grade, info.device)
            d = device_index.get(device)
            if d is None:
                d = device_index[device] = len(self.heads)
                self.heads.append(label_part(CHANNEL_LABELS[:5], device) + ',channel="')
            kind = (info.spec.quantity, info.spec.unit)
            k = kind_index.get(kind)
            if k is None:
                k = kind_index[kind] = len(self.tails)
                tail, value_tail, base = _tails(*kind)
                self.tails.append(tail)
                self.value_tails.append(value_tail)
                self.kind_bases.append(base)
            name = escape(info.id)
            if name != info.id:
                escaped[len(self.ids)] = name
            self.ids.append(info.id)
            devices.append(d)
            kinds.append(k)
        self.devices = array(_typecode(len(self.heads)), devices)
        self.kinds = array(_typecode(len(self.tails)), kinds)
        self.names: list[str] = self.ids
        if escaped:
            self.names = [escaped.get(i, cid) for i, cid in enumerate(self.ids)]

    def __len__(self) -> int:
        return len(self.ids)

    def part(self, i: int) -> str:
        """The label part of channel ``i`` (tests, and families outside the fast path)."""
        return self.heads[self.devices[i]] + self.names[i] + self.tails[self.kinds[i]]

    def base(self, i: int) -> BaseUnit | None:
        """The base unit of channel ``i``'s value (None: exported unconverted)."""
        return self.kind_bases[self.kinds[i]]


def _typecode(count: int) -> str:
    """The smallest unsigned array type holding indexes below ``count``."""
    return "H" if count <= 0x10000 else "I"


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


class LocationTable:
    """Every location's series labels, in configuration order, from pieces shared per room.

    Shaped as a ``ChannelTable`` so that ``encode.ChannelFamily`` writes the
    per-location families too: a location's part is ``heads[rooms[i]] +
    names[i] + tails[rooms[i]]`` (``site="..",room="..",location="`` and
    ``",grade=".."`` per room), so ``devices`` and ``kinds`` are both the
    room index. A location object with its label tuple and rendered part,
    plus a dict by name, were ~250 bytes a location (0.5 MB at 2,000); the
    labels of the few locations with alarm counts are read from the config.
    """

    __slots__ = ("_locations", "_site", "devices", "heads", "kinds", "names", "tails",
                 "value_tails")

    def __init__(self, site: str,
                 locations: Mapping[str, tuple[RoomConfig, LocationConfig]]) -> None:
        self._site = site
        self._locations = locations
        self.heads: list[str] = []
        self.tails: list[str] = []
        rooms: list[int] = []
        room_index: dict[tuple[str, str], int] = {}
        names: list[str] = []
        for name, (room, _loc) in locations.items():
            key = (room.name, room.grade)
            r = room_index.get(key)
            if r is None:
                r = room_index[key] = len(self.heads)
                self.heads.append(label_part(LOCATION_LABELS[:2], (site, room.name))
                                  + ',location="')
                self.tails.append('",' + label_part(LOCATION_LABELS[3:], (room.grade,)))
            escaped = escape(name)
            names.append(name if escaped == name else escaped)
            rooms.append(r)
        self.names = names
        self.value_tails = self.tails
        self.devices = self.kinds = array(_typecode(len(self.heads)), rooms)

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[str]:
        """The location names, as configured (not escaped)."""
        return iter(self._locations)

    def part(self, i: int) -> str:
        return self.heads[self.devices[i]] + self.names[i] + self.tails[self.kinds[i]]

    def labels(self, name: str) -> tuple[str, str, str, str]:
        """LOCATION_LABELS' values of location ``name`` (room and grade empty if unknown)."""
        found = self._locations.get(name)
        if found is None:
            return (self._site, "", name, "")
        return (self._site, found[0].name, name, found[0].grade)


class SiteSeries:
    """Every channel's and location's series labels, in configuration order."""

    def __init__(self, loaded: LoadedConfig) -> None:
        self.channels = ChannelTable(loaded.channels.values())
        self.locations = LocationTable(loaded.config.site.id, loaded.locations)
