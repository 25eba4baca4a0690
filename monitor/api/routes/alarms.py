"""Alarms (list, acknowledge, shelve, unshelve), excursions, location states, maintenance.

Every change needs a login with the right role, a reason, and (for the web
session) the CSRF token; acknowledging also needs the password again, as an
electronic signature. The alarm service records each change in its event log
and the audit trail.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AwareDatetime, Field, field_validator

from monitor.api import actions
from monitor.api.alarmview import AlarmAccess, alarm_json
from monitor.api.context import source_of
from monitor.api.errors import bad_request, not_found
from monitor.api.routing import ApiRequest, NoQuery, Strict, ok
from monitor.api.views import time_view
from monitor.config.durations import parse_duration

Reason = Annotated[str, Field(min_length=3, max_length=500,
                              description="Why: recorded with the action (ALCOA+)")]
Password = Annotated[str, Field(min_length=1, max_length=1024,
                                description="The user's password again (e-signature)")]
DurationText = Annotated[str, Field(min_length=2, max_length=16,
                                    description="e.g. '30m', '2h'")]


def _duration(value: str | None) -> float | None:
    if value is None:
        return None
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("must be positive")
    return seconds


class AlarmsQuery(Strict):
    location: str | None = Field(None, max_length=64)
    priority: Literal["critical", "high", "medium", "low"] | None = None


async def list_alarms(req: ApiRequest[AlarmsQuery, None]) -> web.StreamResponse:
    actions.service_of(req.ctx)
    q = req.query
    alarms = [alarm_json(a) for a in AlarmAccess(req.ctx.runtime).active()
              if q.location in (None, a.location) and q.priority in (None, a.priority)]
    return ok({"alarms": alarms})


async def get_alarm(req: ApiRequest[NoQuery, None]) -> web.StreamResponse:
    return ok(alarm_json(actions.find_alarm(req.ctx, req.path("alarm"))))


class AckBody(Strict):
    reason: Reason
    password: Password


async def post_ack(req: ApiRequest[NoQuery, AckBody]) -> web.StreamResponse:
    assert req.principal is not None
    result = await actions.acknowledge(req.ctx, req.principal, req.path("alarm"),
                                       reason=req.body.reason, password=req.body.password,
                                       source=source_of(req.request))
    return ok(result)


class ShelveBody(Strict):
    reason: Reason
    duration: DurationText

    @field_validator("duration")
    @classmethod
    def _valid(cls, value: str) -> str:
        _duration(value)
        return value


async def post_shelve(req: ApiRequest[NoQuery, ShelveBody]) -> web.StreamResponse:
    assert req.principal is not None
    seconds = _duration(req.body.duration)
    assert seconds is not None
    return ok(actions.shelve(req.ctx, req.principal, req.path("alarm"), req.body.reason,
                             seconds))


class UnshelveBody(Strict):
    reason: Reason


async def post_unshelve(req: ApiRequest[NoQuery, UnshelveBody]) -> web.StreamResponse:
    assert req.principal is not None
    return ok(actions.unshelve(req.ctx, req.principal, req.path("alarm"), req.body.reason))


class RangeQuery(Strict):
    start: AwareDatetime | None = Field(None, description="UTC; default end - 24h")
    end: AwareDatetime | None = Field(None, description="UTC; default now")
    location: str | None = Field(None, max_length=64)


def _range(q: RangeQuery) -> tuple[int, int]:
    end = q.end or datetime.now(UTC)
    start = q.start or end - timedelta(hours=24)
    if start >= end:
        raise bad_request("start must be before end")
    return int(start.timestamp() * 1e9), int(end.timestamp() * 1e9)


def _excursion(exc: Any) -> dict[str, Any]:
    out: dict[str, Any] = exc.to_json()
    for key in ("raised_ns", "start_ns", "end_ns", "cleared_ns", "closed_ns", "peak_ns"):
        out[key.removesuffix("_ns") + "_ts"] = time_view(out.get(key))
    for ack in out["acks"]:
        ack["ts"] = time_view(ack.get("ts_ns"))
    return out


async def list_excursions(req: ApiRequest[RangeQuery, None]) -> web.StreamResponse:
    service = actions.service_of(req.ctx)
    start, end = _range(req.query)
    found = service.excursions(start, end, req.query.location)
    return ok({"start": time_view(start), "end": time_view(end),
               "excursions": [_excursion(e) for e in found]})


async def get_excursion(req: ApiRequest[NoQuery, None]) -> web.StreamResponse:
    service = actions.service_of(req.ctx)
    ref = req.path("excursion")
    if not ref.isdigit():
        raise bad_request("an excursion id is the alarm id, a number")
    exc = service.excursion(int(ref))
    if exc is None:
        raise not_found(f"excursion {ref}")
    return ok(_excursion(exc))


async def list_location_states(req: ApiRequest[NoQuery, None]) -> web.StreamResponse:
    states = AlarmAccess(req.ctx.runtime).location_states()
    return ok({"locations": [
        {"location": name, "state": s["state"], "source": s["source"],
         "manual_until": time_view(s.get("manual_until_ns"))} for name, s in states.items()]})


MAX_EVENTS = 20_000


async def list_state_changes(req: ApiRequest[RangeQuery, None]) -> web.StreamResponse:
    service = actions.service_of(req.ctx)
    start, end = _range(req.query)
    events = service.events(from_ns=start, to_ns=end, limit=MAX_EVENTS)
    changes = []
    for e in events:
        if str(e.kind) != "location_state":
            continue
        location = e.location or (e.details or {}).get("location")
        if req.query.location not in (None, location):
            continue
        changes.append({"ts": time_view(e.ts_ns), "ts_ns": e.ts_ns, "location": location,
                        "state": e.location_state, "user": e.user, "reason": e.reason,
                        "details": e.details, "event_id": e.id})
    return ok({"start": time_view(start), "end": time_view(end),
               "truncated": len(events) >= MAX_EVENTS, "changes": changes})


class StateBody(Strict):
    state: Literal["at_rest", "in_operation", "auto"]
    reason: Reason
    duration: DurationText | None = Field(None, description="Manual state expires after this")

    @field_validator("duration")
    @classmethod
    def _valid(cls, value: str | None) -> str | None:
        _duration(value)
        return value


async def post_state(req: ApiRequest[NoQuery, StateBody]) -> web.StreamResponse:
    assert req.principal is not None
    b = req.body
    return ok(actions.set_location_state(req.ctx, req.principal, req.path("location"),
                                         state=b.state, reason=b.reason,
                                         duration_s=_duration(b.duration)))


class MaintenanceBody(Strict):
    target: str = Field(min_length=1, max_length=140,
                        description="A location, device or channel (device/channel)")
    on: bool
    reason: Reason
    duration: DurationText | None = None

    @field_validator("duration")
    @classmethod
    def _valid(cls, value: str | None) -> str | None:
        _duration(value)
        return value


async def post_maintenance(req: ApiRequest[NoQuery, MaintenanceBody]) -> web.StreamResponse:
    assert req.principal is not None
    b = req.body
    return ok(actions.set_maintenance(req.ctx, req.principal, b.target, on=b.on,
                                      reason=b.reason, duration_s=_duration(b.duration)))

