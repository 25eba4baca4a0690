"""Site, locations, channels with their latest readings, and reading history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from aiohttp import web
from pydantic import AwareDatetime, Field

from monitor.api.alarmview import AlarmAccess
from monitor.api.errors import bad_request, not_found
from monitor.api.history import HistoryQuery
from monitor.api.routing import ApiRequest, NoQuery, Strict, ok
from monitor.api.views import channel_view, location_view
from monitor.config.durations import parse_duration
from monitor.config.loader import ChannelInfo

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


def _last_good(req: ApiRequest[Any, Any]) -> dict[str, int]:
    tracker = req.ctx.runtime.extras.get("last_good")
    return dict(getattr(tracker, "last_good_ns", {}))


async def get_site(req: ApiRequest[NoQuery, None]) -> web.StreamResponse:
    from monitor import __version__

    loaded = req.ctx.runtime.loaded
    cfg = loaded.config
    return ok({
        "site": {"id": cfg.site.id, "name": cfg.site.name, "timezone": cfg.site.timezone},
        "version": __version__,
        "config_sha256": loaded.sha256,
        "rooms": [{"name": r.name, "description": r.description, "grade": r.grade,
                   "standard": (r.standard or cfg.standard).value,
                   "locations": [loc.name for loc in r.locations]} for r in cfg.rooms],
        "devices": len(cfg.devices),
        "channels": len(loaded.channels),
    })


class LocationsQuery(Strict):
    room: Name | None = None


async def list_locations(req: ApiRequest[LocationsQuery, None]) -> web.StreamResponse:
    view = AlarmAccess(req.ctx.runtime)
    last_good = _last_good(req)
    names = [name for name, (room, _) in req.ctx.runtime.loaded.locations.items()
             if req.query.room in (None, room.name)]
    return ok({"locations": [location_view(req.ctx.runtime, n, view, last_good) for n in names]})


async def get_location(req: ApiRequest[NoQuery, None]) -> web.StreamResponse:
    name = req.path("location")
    if name not in req.ctx.runtime.loaded.locations:
        raise not_found(f"location {name!r}")
    return ok(location_view(req.ctx.runtime, name, AlarmAccess(req.ctx.runtime), _last_good(req)))


class ChannelsQuery(Strict):
    location: Name | None = None
    room: Name | None = None
    quantity: str | None = Field(None, max_length=64)


async def list_channels(req: ApiRequest[ChannelsQuery, None]) -> web.StreamResponse:
    q = req.query
    view = AlarmAccess(req.ctx.runtime)
    last_good = _last_good(req)
    out = [channel_view(req.ctx.runtime, info, view, last_good.get(info.id))
           for info in req.ctx.runtime.loaded.channels.values()
           if q.location in (None, info.location) and q.room in (None, info.room)
           and q.quantity in (None, info.spec.quantity)]
    return ok({"channels": out})


def _channel(req: ApiRequest[Any, Any]) -> ChannelInfo:
    cid = f"{req.path('device')}/{req.path('channel')}"
    info = req.ctx.runtime.loaded.channels.get(cid)
    if info is None:
        raise not_found(f"channel {cid!r}")
    return info


async def get_channel(req: ApiRequest[NoQuery, None]) -> web.StreamResponse:
    info = _channel(req)
    return ok(channel_view(req.ctx.runtime, info, AlarmAccess(req.ctx.runtime),
                           _last_good(req).get(info.id)))


class HistoryParams(Strict):
    start: AwareDatetime | None = Field(None, description="UTC start (ISO 8601); default end - 1h")
    end: AwareDatetime | None = Field(None, description="UTC end (ISO 8601); default now")
    step: str | None = Field(None, max_length=16, description="Aggregate per step, e.g. '1m'")
    limit: int | None = Field(None, ge=1, description="Most points returned")


def _ns(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


async def get_history(req: ApiRequest[HistoryParams, None]) -> web.StreamResponse:
    info = _channel(req)
    q = req.query
    end = q.end or datetime.now(UTC)
    start = q.start or end - timedelta(hours=1)
    if start >= end:
        raise bad_request("start must be before end")
    http = req.ctx.http
    limit = min(q.limit or http.history_max_points, http.history_max_points)
    step_s = None
    if q.step is not None:
        try:
            step_s = parse_duration(q.step)
        except ValueError as err:
            raise bad_request(f"step: {err}") from err
        if step_s <= 0:
            raise bad_request("step must be positive")
    start_ns, end_ns = _ns(start), _ns(end)
    if step_s is not None and (end_ns - start_ns) / (step_s * 1e9) > limit:
        raise bad_request(f"step too small: more than {limit} buckets; use a larger step")
    history = req.ctx.extras["history"]
    result = await history.query(HistoryQuery(info.id, start_ns, end_ns, limit, step_s))
    result["unit"] = info.spec.unit
    return ok(result)

