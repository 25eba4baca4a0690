"""User management by admins over HTTP: list, create, disable/enable, unlock, reset, roles.

The same operations as ``cleanroom-monitor user`` (``monitor.users.store``),
audited with the admin as the actor and the reason. There is no delete:
accounts are disabled, never deleted, and their names never reused, so every
record keeps naming a real, identifiable person (21 CFR 11.10(d), 11.300(a)).
A password set here is temporary: the user must change it at the next
login. An admin cannot disable their own account or take away their own
admin role, so a site never locks itself out of user management by one
click. Disabling a user or resetting their password ends their web sessions.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from monitor.api.errors import ApiError, not_found
from monitor.api.routing import ApiRequest, NoQuery, Strict, ok
from monitor.api.views import time_view
from monitor.users.model import User
from monitor.users.roles import Role

Reason = Annotated[str, Field(min_length=3, max_length=500,
                              description="Why: recorded in the audit trail")]
Username = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")]
Password = Annotated[str, Field(min_length=1, max_length=1024,
                                description="Temporary password; never echoed or logged")]


def user_view(user: User, now_ns: int) -> dict[str, Any]:
    out: dict[str, Any] = user.public()
    out.update({
        "locked": user.locked(now_ns), "locked_until": time_view(user.locked_until_ns),
        "password_expired": user.password_expired(now_ns),
        "password_set": time_view(user.password_set_ns),
        "created": time_view(user.created_ns), "last_login": time_view(user.last_login_ns),
    })
    return out


def _target(req: ApiRequest[Any, Any]) -> User:
    user = req.ctx.users.get(req.path("username"))
    if user is None:
        raise not_found(f"user {req.path('username')!r}")
    return user


async def list_users(req: ApiRequest[NoQuery, None]) -> web.StreamResponse:
    now = req.ctx.clock()
    return ok({"users": [user_view(u, now) for u in req.ctx.users.users()]})


async def get_user(req: ApiRequest[NoQuery, None]) -> web.StreamResponse:
    return ok(user_view(_target(req), req.ctx.clock()))


class CreateBody(Strict):
    username: Username
    full_name: str = Field(min_length=1, max_length=200,
                           description="Printed on the user's electronic signatures")
    roles: list[Role] = Field(min_length=1, max_length=4)
    password: Password
    reason: Reason | None = None


async def post_user(req: ApiRequest[NoQuery, CreateBody]) -> web.StreamResponse:
    b = req.body
    user = await asyncio.to_thread(req.ctx.users.add, req.username, b.username, b.full_name,
                                   b.roles, b.password, reason=b.reason)
    return ok(user_view(user, req.ctx.clock()), status=201)


class ReasonBody(Strict):
    reason: Reason


def _not_self(req: ApiRequest[Any, Any], target: User, what: str) -> None:
    if target.username.lower() == req.username.lower():
        raise ApiError(422, "refused", f"an admin cannot {what} their own account; "
                       "another admin must do it")


async def post_disable(req: ApiRequest[NoQuery, ReasonBody]) -> web.StreamResponse:
    target = _target(req)
    _not_self(req, target, "disable")
    user = await asyncio.to_thread(req.ctx.users.disable, req.username, target.username,
                                   req.body.reason)
    req.ctx.sessions.revoke_user(user.username)
    return ok(user_view(user, req.ctx.clock()))


async def post_enable(req: ApiRequest[NoQuery, ReasonBody]) -> web.StreamResponse:
    target = _target(req)
    user = await asyncio.to_thread(req.ctx.users.enable, req.username, target.username,
                                   req.body.reason)
    return ok(user_view(user, req.ctx.clock()))


async def post_unlock(req: ApiRequest[NoQuery, ReasonBody]) -> web.StreamResponse:
    target = _target(req)
    user = await asyncio.to_thread(req.ctx.users.unlock, req.username, target.username,
                                   req.body.reason)
    return ok(user_view(user, req.ctx.clock()))


class ResetBody(Strict):
    password: Password
    reason: Reason


async def post_reset(req: ApiRequest[NoQuery, ResetBody]) -> web.StreamResponse:
    """Set a temporary password (never one's own: that is POST /api/v1/password)."""
    target = _target(req)
    _not_self(req, target, "reset the password of")
    user = await asyncio.to_thread(req.ctx.users.set_password, req.username, target.username,
                                   req.body.password, reason=req.body.reason)
    req.ctx.sessions.revoke_user(user.username)
    return ok(user_view(user, req.ctx.clock()))


class RolesBody(Strict):
    roles: list[Role] = Field(min_length=1, max_length=4)
    reason: Reason


async def put_roles(req: ApiRequest[NoQuery, RolesBody]) -> web.StreamResponse:
    target = _target(req)
    if target.username.lower() == req.username.lower() and Role.ADMIN not in req.body.roles:
        raise ApiError(422, "refused", "an admin cannot take away their own admin role; "
                       "another admin must do it")
    user = await asyncio.to_thread(req.ctx.users.set_roles, req.username, target.username,
                                   req.body.roles, req.body.reason)
    if user.username.lower() != req.username.lower():
        req.ctx.sessions.revoke_user(user.username)  # a session must not keep old rights
    return ok(user_view(user, req.ctx.clock()))

