"""JSON views of locations, channels and readings, shared by the API and the web pages.

Every reading shown keeps its quality and the source of its time (ALCOA+:
a value without its quality is not the original record); times are UTC, as
ISO 8601 with nanoseconds and as integer nanoseconds.
"""

from __future__ import annotations

import math
from typing import Any

from monitor.audit import iso_utc
from monitor.config import ChannelInfo, LoadedConfig
from monitor.model import Reading
from monitor.runtime import Runtime

from .alarmview import AlarmAccess


def number(value: float | None) -> float | None:
    """JSON has no NaN or infinity: they are shown as null (the quality says why)."""
    if value is None or not math.isfinite(value):
        return None
    return value


def time_view(ts_ns: int | None) -> str | None:
    return None if ts_ns is None else iso_utc(ts_ns)


def reading_view(reading: Reading) -> dict[str, Any]:
    return {
        "value": number(reading.value),
        "quality": reading.quality.value,
        "ts": iso_utc(reading.ts_ns),
        "ts_ns": reading.ts_ns,
        "ts_source": reading.ts_source.value,
        "device_ts": time_view(reading.device_ts_ns),
        "raw": number(reading.raw),
        "detail": reading.detail,
    }


def channel_view(runtime: Runtime, info: ChannelInfo, alarms: AlarmAccess,
                 last_good_ns: int | None = None) -> dict[str, Any]:
    latest = runtime.pipeline.latest.get(info.id)
    return {
        "id": info.id,
        "device": info.device,
        "name": info.spec.name,
        "location": info.location,
        "room": info.room,
        "grade": info.grade,
        "standard": info.standard.value,
        "quantity": info.spec.quantity,
        "unit": info.spec.unit,
        "poll_interval_s": info.poll_interval,
        "latest": reading_view(latest) if latest is not None else None,
        "last_good_ts": time_view(last_good_ns),
        "limits": alarms.limits(info.id),
        "alarm_level": alarms.channel_level(info.id),
    }


def location_view(runtime: Runtime, name: str, alarms: AlarmAccess,
                  last_good: dict[str, int] | None = None) -> dict[str, Any]:
    loaded: LoadedConfig = runtime.loaded
    room, loc = loaded.locations[name]
    channels = [info for info in loaded.channels.values() if info.location == name]
    last_good = last_good or {}
    return {
        "name": name,
        "description": loc.description,
        "room": room.name,
        "room_description": room.description,
        "grade": room.grade,
        "standard": (room.standard or loaded.config.standard).value,
        "state": alarms.location_state(name),
        "maintenance": alarms.maintenance(name),
        "alarm_level": alarms.location_level(name),
        "channels": [channel_view(runtime, info, alarms, last_good.get(info.id))
                     for info in channels],
    }
