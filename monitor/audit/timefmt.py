"""UTC timestamps as people read and type them; records keep integer nanoseconds."""

from __future__ import annotations

from datetime import UTC, date, datetime

from monitor.errors import MonitorError


def iso_utc(ts_ns: int) -> str:
    """``2026-11-26T02:41:40.123456789Z``: UTC with the full nanosecond resolution."""
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def short_utc(ts_ns: int) -> str:
    """``2026-11-26 02:41:40Z``: for tables and report headers."""
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def parse_utc_ns(text: str) -> int:
    """An ISO 8601 date or date-time as UTC ns; a time without an offset is taken as UTC."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError as err:
        raise MonitorError(
            f"{text!r} is not an ISO 8601 date or time (e.g. 2026-11-26 or "
            "2026-11-26T08:00:00Z)"
        ) from err
    seconds = int(moment.timestamp())
    return seconds * 1_000_000_000 + moment.microsecond * 1000
