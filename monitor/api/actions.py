"""State changes shared by the JSON API and the web forms: one code path, one set of checks.

Acknowledging is an electronic signature (21 CFR 11.50/11.200): the user
re-enters their password, the signature names them, the time and the meaning
"acknowledged", and is bound to the alarm's record (the hash of the event
that raised it, from ``AlarmService.signing_record``); the alarm service
verifies it again before it changes anything and writes the audit entry.
Password checks run in a worker thread (argon2 is deliberately slow); the
alarm engine itself is only touched from the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from monitor.errors import AlarmError, AuthError
from monitor.signatures import Meaning, Signature
from monitor.users.roles import Permission

from .alarmview import AlarmAccess, alarm_json
from .auth import Principal
from .context import ApiContext
from .errors import ApiError, not_found

NS = 1_000_000_000


def service_of(ctx: ApiContext) -> Any:
    service = ctx.alarms
    if service is None:
        raise ApiError(503, "alarms_unavailable", "the alarm engine is not running")
    return service


def find_alarm(ctx: ApiContext, ref: str) -> Any:
    """The active alarm with id ``ref`` (``17``) or point key (``dp1/dp:low_action``)."""
    service_of(ctx)
    for alarm in AlarmAccess(ctx.runtime).active():
        if str(alarm.alarm_id) == ref or alarm.point == ref:
            return alarm
    raise not_found(f"alarm {ref!r} (not active; see /api/v1/excursions for history)")


async def sign(ctx: ApiContext, principal: Principal, password: str, *, meaning: Meaning,
               record: dict[str, Any], permission: Permission, comment: str,
               source: str) -> Signature:
    """Re-check the password and sign ``record`` (type, id, hash), in a worker thread."""
    try:
        return await asyncio.to_thread(
            ctx.signer.sign, principal.username, password, meaning=meaning,
            record_type=str(record["record_type"]), record_id=str(record["record_id"]),
            record_hash=str(record["record_hash"]), permission=permission, comment=comment,
            source=source)
    except AuthError as err:
        raise ApiError(403, "signature_failed", str(err)) from err


async def acknowledge(ctx: ApiContext, principal: Principal, ref: str, *, reason: str,
                      password: str, source: str) -> dict[str, Any]:
    service = service_of(ctx)
    alarm = find_alarm(ctx, ref)
    if alarm.state not in ("active_unack", "rtn_unack"):
        raise ApiError(409, "alarm_refused", f"alarm {ref} is {alarm.state}: nothing to "
                       "acknowledge")
    # bound to the hash of the event that raised the alarm, in the hash-chained event log
    record = service.signing_record(alarm.alarm_id)
    signature = await sign(ctx, principal, password, meaning=Meaning.ACKNOWLEDGED,
                           record=record, permission=Permission.ACKNOWLEDGE, comment=reason,
                           source=source)
    service.acknowledge(alarm.alarm_id, principal.username, reason,
                        signature=signature.to_dict())
    return {"alarm": _current(ctx, alarm), "signature": signature.to_dict(),
            "signed": signature.manifestation()}


def _current(ctx: ApiContext, before: Any) -> dict[str, Any]:
    """The alarm after an action, or its last known view if it went back to normal."""
    for alarm in AlarmAccess(ctx.runtime).active():
        if alarm.point == before.point:
            return alarm_json(alarm)
    view = alarm_json(before)
    view.update(state="normal", acknowledgeable=False, shelved=False, mode="in_service")
    return view


def shelve(ctx: ApiContext, principal: Principal, ref: str, reason: str,
           duration_s: float) -> dict[str, Any]:
    service = service_of(ctx)
    alarm = _point(ctx, ref) if ":" in ref else find_alarm(ctx, ref)
    until = ctx.clock() + int(duration_s * NS)
    service.shelve(alarm.alarm_id if alarm.alarm_id is not None else alarm.point,
                   principal.username, reason, until)
    return {"alarm": _current(ctx, alarm)}


def unshelve(ctx: ApiContext, principal: Principal, ref: str, reason: str) -> dict[str, Any]:
    service = service_of(ctx)
    alarm = find_alarm(ctx, ref)
    if alarm.mode != "shelved":
        raise ApiError(409, "alarm_refused", f"alarm {ref} is not shelved")
    service.unshelve(alarm.alarm_id if alarm.alarm_id is not None else alarm.point,
                     principal.username, reason)
    return {"alarm": _current(ctx, alarm)}


class _PointRef:
    """A point that is normal (not in ``active()``): shelving may still apply to it."""

    def __init__(self, point: Any) -> None:
        self.alarm_id = None
        self.point = point.key
        self._point = point

    def to_json(self) -> dict[str, Any]:
        p = self._point
        return {"alarm_id": None, "point": p.key, "location": p.location,
                "channel": p.channel, "rule": p.rule, "level": str(p.level),
                "priority": p.priority, "state": str(p.state), "mode": str(p.mode),
                "start_ns": None, "raised_ns": None, "limit": p.limit, "peak": None,
                "peak_ns": None, "shelved_until": p.shelved_until, "shelved_by": p.shelved_by}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._point, name)


def _point(ctx: ApiContext, key: str) -> Any:
    for alarm in AlarmAccess(ctx.runtime).active():
        if alarm.point == key:
            return alarm
    try:
        return _PointRef(service_of(ctx).engine.find(key))
    except AlarmError as err:
        raise not_found(f"alarm point {key!r}") from err


def set_location_state(ctx: ApiContext, principal: Principal, location: str, *, state: str,
                       reason: str, duration_s: float | None) -> dict[str, Any]:
    service = service_of(ctx)
    if location not in ctx.runtime.loaded.locations:
        raise not_found(f"location {location!r}")
    until = ctx.clock() + int(duration_s * NS) if duration_s else None
    service.set_location_state(location, None if state == "auto" else state,
                               principal.username, reason, until)
    return {"location": location, **AlarmAccess(ctx.runtime).location_states()[location]}


def set_maintenance(ctx: ApiContext, principal: Principal, target: str, *, on: bool,
                    reason: str, duration_s: float | None) -> dict[str, Any]:
    service = service_of(ctx)
    until = ctx.clock() + int(duration_s * NS) if duration_s else None
    service.set_maintenance(target, on, principal.username, reason, until)
    return {"target": target, "maintenance": AlarmAccess(ctx.runtime).maintenance(target)}
