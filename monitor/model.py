"""Value types shared by drivers, the alarm engine and the stores.

A reading is the unit of record in a GMP monitoring system: it is never
changed after it is made, it always carries its quality, and its time is UTC
with the source of that time noted. ``Reading`` is a ``NamedTuple``: a tuple
cannot be changed after it is made, and the hot path creates one per channel
per poll, which for a tuple costs a fifth of a frozen dataclass (whose
``__init__`` goes through ``object.__setattr__`` once per field).
"""

from __future__ import annotations

import enum
import time
from typing import NamedTuple


class Quality(enum.StrEnum):
    """How far a reading's value may be trusted.

    Only ``GOOD`` values are evaluated against limits; every other quality
    counts towards the health rules (stale, communication, device fault).
    """

    GOOD = "good"
    STALE = "stale"
    COMM_ERROR = "comm_error"
    OUT_OF_RANGE = "out_of_range"
    DEVICE_FAULT = "device_fault"
    MAINTENANCE = "maintenance"
    INVALID = "invalid"


class LocationState(enum.StrEnum):
    """Occupancy state of a location; GMP limits depend on it."""

    AT_REST = "at_rest"
    IN_OPERATION = "in_operation"


class TimeSource(enum.StrEnum):
    """Who stamped a reading's time (ALCOA+: the record says where time came from)."""

    DAEMON = "daemon"  # the daemon's UTC clock when the reply arrived
    DEVICE = "device"  # the instrument's own clock (e.g. a counter's sample record)


class Reading(NamedTuple):
    """One value of one channel at one time; immutable (a reading is never changed).

    ``channel`` is the channel's id, ``"<device>/<channel>"``; everything else
    a store or an alarm rule needs about it (location, unit, grade...) is looked
    up once from the loaded configuration, not carried on every reading.
    ``ts_ns`` is UTC nanoseconds since the epoch, taken by the daemon when the
    reply arrived; ``device_ts_ns`` is the device's own timestamp if it gave one.
    A changed copy (a note added, a time moved) is ``reading._replace(...)``.
    """

    channel: str
    value: float | None
    quality: Quality
    ts_ns: int
    raw: float | None = None
    device_ts_ns: int | None = None
    detail: str | None = None  # why the quality is not good, in a few words

    @property
    def ts_source(self) -> TimeSource:
        return TimeSource.DEVICE if self.device_ts_ns is not None else TimeSource.DAEMON


new_reading = tuple.__new__
"""``new_reading(Reading, (channel, value, quality, ts_ns, raw, device_ts_ns, detail))``: the
drivers' fast path, half the cost of calling ``Reading(...)``; all seven fields, always."""


def utc_now_ns() -> int:
    """UTC wall-clock time in nanoseconds; the one clock readings are stamped with."""
    return time.time_ns()


def channel_id(device: str, channel: str) -> str:
    return f"{device}/{channel}"
