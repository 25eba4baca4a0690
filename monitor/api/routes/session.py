"""Logging in and out (web sessions) and changing one's own password.

A login answers with the session cookie (HttpOnly, SameSite=Strict, Secure
under TLS) and the CSRF token that the page must send with every change.
Machines do not log in: they use API tokens (``cleanroom-monitor user token``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from pydantic import Field

from monitor.api.auth import Principal, check_origin, login, logout, set_session_cookie
from monitor.api.context import source_of
from monitor.api.errors import ApiError, unauthorized
from monitor.api.routing import ApiRequest, NoQuery, Strict, ok
from monitor.audit import iso_utc
from monitor.errors import AuthError
from monitor.users.model import PasswordChangeRequired

Secret = str  # never logged, never echoed


class LoginBody(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: Secret = Field(min_length=1, max_length=1024)


class PasswordBody(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: Secret = Field(min_length=1, max_length=1024, description="Current password")
    new_password: Secret = Field(min_length=1, max_length=1024)


def principal_view(principal: Principal) -> dict[str, Any]:
    out: dict[str, Any] = {
        "user": principal.user.public(),
        "permissions": sorted(p.value for p in principal.user.permissions),
        "via": principal.via,
    }
    if principal.session is not None:
        out["csrf_token"] = principal.session.csrf
        out["expires"] = iso_utc(principal.session.expires_ns)
    return out


async def post_session(req: ApiRequest[NoQuery, LoginBody]) -> web.StreamResponse:
    check_origin(req.ctx, req.request, None)
    try:
        cookie, session, user = await login(req.ctx, req.request, req.body.username,
                                            req.body.password)
    except ApiError as err:
        if isinstance(err.__cause__, PasswordChangeRequired):
            raise ApiError(403, "password_change_required", str(err.__cause__)) from err
        raise
    response = ok(principal_view(Principal(user, "session", session)), status=201)
    set_session_cookie(response, req.ctx, cookie)
    return response


async def get_session(req: ApiRequest[NoQuery, None]) -> web.StreamResponse:
    if req.principal is None:
        raise unauthorized("not logged in (or the session expired)")
    return ok(principal_view(req.principal))


async def delete_session(req: ApiRequest[NoQuery, None]) -> web.StreamResponse:
    response = web.Response(status=204)
    logout(req.ctx, req.request, req.principal, response)
    return response


async def post_password(req: ApiRequest[NoQuery, PasswordBody]) -> web.StreamResponse:
    """Self-service change, also for a user whose password expired and so cannot log in."""
    check_origin(req.ctx, req.request, None)
    body, ctx = req.body, req.ctx
    wait = ctx.limiter.retry_after(source_of(req.request))
    if wait > 0:
        raise ApiError(429, "too_many_requests", "too many attempts; try again later",
                       headers={"Retry-After": str(int(wait) + 1)})
    ctx.limiter.hit(source_of(req.request))
    try:
        await asyncio.to_thread(ctx.users.set_password, body.username, body.username,
                                body.new_password, old_password=body.password)
    except AuthError as err:
        raise ApiError(401, "login_failed", str(err)) from err
    ctx.sessions.revoke_user(body.username)
    return ok({"changed": True})

