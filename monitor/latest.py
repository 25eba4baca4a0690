"""The latest reading of every channel, kept as columns instead of ``Reading`` objects.

The pipeline keeps each channel's latest reading for the API, the pages and
``/metrics``. Kept as the ``Reading`` tuples the drivers made, each channel
held a 7-slot tuple, a float for the value, another for the raw value and an
int for the time: ~180 bytes a channel, 3.6 MB at 20,000 channels, for
readings nothing else holds once they are stored. Here a reading of the usual
shape (a float value and raw value, no device time, no note) is a slot in
typed arrays (value, raw, time: 8 bytes each) and a reference to the shared
quality member; any other reading (no value, an int raw value, a device time,
a note: a fault, a sentinel, an MQTT device stamping its values) is kept
whole, as before, until its channel's next usual one. ``get`` gives back a
``Reading`` equal to the one put, made when asked: a handful of times per API
request, once per channel per scrape. The time of each channel's latest
reading of good quality (what staleness panels and the API's ``last_good_ts``
show) is one more column, kept in the same pass.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping, Sequence

from monitor.model import Quality, Reading, new_reading

_NEVER = -(2**63)  # no good reading yet (any int64 UTC ns time is above it)


class LatestReadings(Mapping[str, Reading]):
    """Channel id -> its latest ``Reading``; ``put`` replaces, nothing is ever removed.

    Channels are only ever added, so a ``snapshot`` shares the index and the
    channel list and copies the columns, and knows its channels by count.
    """

    __slots__ = ("_channels", "_count", "_good_ts", "_index", "_quality", "_raw", "_ts",
                 "_value", "_whole")

    def __init__(self) -> None:
        self._index: dict[str, int] = {}
        self._channels: list[str] = []
        self._count = -1  # a live table: every channel in the index; a snapshot: how many
        self._value = array("d")
        self._raw = array("d")
        self._ts = array("q")
        self._quality: list[Quality] = []
        self._whole: dict[int, Reading] = {}  # readings not of the usual shape, by slot
        self._good_ts = array("q")  # UTC ns of the latest good reading, or _NEVER

    def put(self, readings: Sequence[Reading]) -> None:
        """Remember each reading as its channel's latest (the last one of a channel wins)."""
        index, values, raws, ts, qualities = (self._index, self._value, self._raw, self._ts,
                                              self._quality)
        whole, good_ts, good = self._whole, self._good_ts, Quality.GOOD
        for reading in readings:
            channel, value, quality, ts_ns, raw, device_ts_ns, detail = reading
            i = index.get(channel)
            if i is None:
                i = self._add(channel)
            if (value.__class__ is float and raw.__class__ is float and device_ts_ns is None
                    and detail is None):
                values[i] = value
                raws[i] = raw
                ts[i] = ts_ns
                qualities[i] = quality
                if whole:
                    whole.pop(i, None)
            else:
                whole[i] = reading
            if quality is good:
                good_ts[i] = ts_ns

    def _add(self, channel: str) -> int:
        i = self._index[channel] = len(self._channels)
        self._channels.append(channel)
        self._value.append(0.0)
        self._raw.append(0.0)
        self._ts.append(0)
        self._quality.append(Quality.GOOD)
        self._good_ts.append(_NEVER)
        return i

    def _reading(self, i: int) -> Reading:
        reading = self._whole.get(i)
        if reading is not None:
            return reading
        return new_reading(Reading, (self._channels[i], self._value[i], self._quality[i],
                                     self._ts[i], self._raw[i], None, None))

    def _slot(self, channel: object) -> int | None:
        i = self._index.get(channel)  # type: ignore[call-overload]
        if i is None or (self._count >= 0 and i >= self._count):
            return None
        return i  # type: ignore[no-any-return]

    def __getitem__(self, channel: str) -> Reading:
        i = self._slot(channel)
        if i is None:
            raise KeyError(channel)
        return self._reading(i)

    def get(self, channel: str, default: Reading | None = None) -> Reading | None:  # type: ignore[override]
        i = self._slot(channel)
        return default if i is None else self._reading(i)

    def __contains__(self, channel: object) -> bool:
        return self._slot(channel) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels[:len(self)])

    def __len__(self) -> int:
        return len(self._channels) if self._count < 0 else self._count

    def snapshot(self) -> LatestReadings:
        """A copy that later ``put``s do not change (a scrape reads it in a thread)."""
        other = LatestReadings.__new__(LatestReadings)
        other._index, other._channels = self._index, self._channels
        other._count = len(self)
        other._value = array("d", self._value)
        other._raw = array("d", self._raw)
        other._ts = array("q", self._ts)
        other._quality = self._quality.copy()
        other._whole = self._whole.copy()
        other._good_ts = array("q", self._good_ts)
        return other

    def last_good_ns(self, channel: str) -> int | None:
        """UTC ns of ``channel``'s latest reading of good quality; None if it never had one."""
        i = self._slot(channel)
        if i is None:
            return None
        ts = self._good_ts[i]
        return None if ts == _NEVER else ts

    def last_good(self) -> LastGood:
        """``last_good_ns`` as a mapping of the channels that had a good reading (live)."""
        return LastGood(self)


class LastGood(Mapping[str, int]):
    """Channel id -> UTC ns of its latest good reading, read from a ``LatestReadings``."""

    __slots__ = ("_latest",)

    def __init__(self, latest: LatestReadings) -> None:
        self._latest = latest

    def __getitem__(self, channel: str) -> int:
        ts = self._latest.last_good_ns(channel)
        if ts is None:
            raise KeyError(channel)
        return ts

    def __iter__(self) -> Iterator[str]:
        latest = self._latest
        return (c for c in latest if latest.last_good_ns(c) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)
