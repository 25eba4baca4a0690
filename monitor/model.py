"""Value types shared by drivers, the alarm engine and the stores.

A reading is the unit of record in a GMP monitoring system: it is never
changed after it is made, it always carries its quality, and its time is UTC
with the source of that time noted. ``Reading`` is a slotted frozen dataclass
because the hot path creates one per channel per poll.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass


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


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of one channel at one time.

    ``channel`` is the channel's id, ``"<device>/<channel>"``; everything else
    a store or an alarm rule needs about it (location, unit, grade...) is looked
    up once from the loaded configuration, not carried on every reading.
    ``ts_ns`` is UTC nanoseconds since the epoch, taken by the daemon when the
    reply arrived; ``device_ts_ns`` is the device's own timestamp if it gave one.
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


def utc_now_ns() -> int:
    """UTC wall-clock time in nanoseconds; the one clock readings are stamped with."""
    return time.time_ns()


def channel_id(device: str, channel: str) -> str:
    return f"{device}/{channel}"
