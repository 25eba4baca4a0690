"""Readings as InfluxDB points: the one place the point model is defined.

Measurement ``reading``; tags ``site, room, location, device, channel, unit,
grade``; fields ``value`` (scaled, float), ``raw`` (when it differs),
``quality`` (text) and ``quality_code`` (its integer, for stores that
keep numeric fields only, such as VictoriaMetrics), ``state``,
``device_ts`` (the instrument's own time, integer ns) and ``detail``;
timestamp = when the daemon received the reply, UTC ns.
See docs/storage.md for the reasoning and Grafana queries.

Serialisation is influxdb-client's ``Point``. A series' tags never change, so
its escaped ``measurement,tags`` prefix is built once with ``Point`` and
cached; each reading then only serialises its fields and time, which keeps a
backfill several times faster than building a tagged ``Point`` per reading.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from influxdb_client.client.write.point import Point as _Point
from influxdb_client.domain.write_precision import WritePrecision

Point: Any = _Point  # influxdb-client's Point is untyped
NS: Any = WritePrecision.NS

MEASUREMENT = "reading"
TAG_NAMES = ("channel", "device", "location", "room", "grade", "unit", "site")
_PLACEHOLDER = "_p"

#: ``quality`` as an integer field too: VictoriaMetrics drops string fields, and a
#: reading whose quality is lost could be mistaken for a good one. The codes are
#: part of the stored record: never renumber one, only add (tests check each
#: ``Quality`` has one).
QUALITY_CODES: dict[str, int] = {
    "good": 0,
    "stale": 1,
    "comm_error": 2,
    "out_of_range": 3,
    "device_fault": 4,
    "maintenance": 5,
    "invalid": 6,
}
#: A quality this build does not know (a newer file read by an older build) is not good.
UNKNOWN_QUALITY_CODE = 99


class OutboxRow(NamedTuple):
    """One reading as the outbox reads it back from ``readings.db``."""

    id: int
    series: int
    ts_ns: int
    value: float | None
    raw: float | None
    quality: str
    state: str | None
    device_ts_ns: int | None
    detail: str | None


def series_prefix(tags: Iterable[tuple[str, str]]) -> str:
    """``reading,tag=value,...`` escaped by influxdb-client (empty tag values are left out)."""
    point = Point(MEASUREMENT)
    for key, value in tags:
        if value:
            point.tag(key, value)
    point.field(_PLACEHOLDER, 0)
    line: str = point.to_line_protocol()
    # Tag keys and values have '=' and ' ' escaped, so the last " _p=" is the separator.
    return line[: line.rindex(f" {_PLACEHOLDER}=")]


def encode_fields(row: OutboxRow) -> str:
    """`` fields timestamp`` of one reading (leading space included)."""
    point = Point("m")
    if row.value is not None:
        point.field("value", row.value)
    if row.raw is not None and row.raw != row.value:
        point.field("raw", row.raw)
    point.field("quality", row.quality)
    point.field("quality_code", QUALITY_CODES.get(row.quality, UNKNOWN_QUALITY_CODE))
    if row.state:
        point.field("state", row.state)
    if row.device_ts_ns is not None:
        point.field("device_ts", int(row.device_ts_ns))
    if row.detail:
        point.field("detail", row.detail)
    point.time(row.ts_ns, NS)
    line: str = point.to_line_protocol()
    return line[1:]


def encode(prefix: str, row: OutboxRow) -> str:
    return prefix + encode_fields(row)
