"""Who is asking: an API token (machines) or a session cookie (the web page), or nobody.

Tokens come in ``Authorization: Bearer cmt_...``; a bad token is an error
(401, audited by the user store), never a silent fall-back to anonymous.
Sessions come in the ``cm_session`` cookie; a cookie that names no live
session (expired, logged out) makes the request anonymous, and a page then
asks for a login. Requests authenticated by cookie must also carry the
session's CSRF token to change anything (see ``check_csrf``); token requests
need none because a browser never adds a bearer token on its own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from monitor.audit import Action
from monitor.errors import AuthError
from monitor.users.model import User
from monitor.users.roles import Permission

from .context import ApiContext, source_of
from .errors import ApiError, forbidden, unauthorized
from .sessions import Session

COOKIE = "cm_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
ACCESS_DENIED = "access.denied"


@dataclass(frozen=True)
class Principal:
    user: User
    via: Literal["token", "session"]
    session: Session | None = None

    @property
    def username(self) -> str:
        return self.user.username


async def authenticate(request: web.Request, ctx: ApiContext) -> Principal | None:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("the Authorization header must be 'Bearer <token>'")
        try:
            user = await asyncio.to_thread(ctx.users.tokens.authenticate, token.strip(),
                                           source=source_of(request))
        except AuthError as err:
            raise unauthorized(str(err)) from err
        return Principal(user, "token")
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    session = ctx.sessions.get(cookie)
    if session is None:
        return None
    found = ctx.users.get(session.username)
    if found is None or found.disabled:
        ctx.sessions.revoke(cookie)
        return None
    return Principal(found, "session", session)


def deny(ctx: ApiContext, request: web.Request, principal: Principal | None, why: str,
         error: ApiError) -> ApiError:
    """Audit a refused request (a security event) and return the error to raise."""
    ctx.audit.record(principal.username if principal else "unauthenticated", ACCESS_DENIED,
                     f"http:{request.method} {request.path}",
                     new={"why": why, "source": source_of(request),
                          "via": principal.via if principal else None})
    return error


def authorize(ctx: ApiContext, request: web.Request, principal: Principal | None,
              permission: Permission | None, *, changes_state: bool) -> None:
    """Raise unless the request may go on. Reading may be open; changing never is."""
    if permission is None:
        return
    if principal is None:
        if not changes_state and permission is Permission.VIEW and ctx.http.open_read:
            return
        if changes_state:
            raise deny(ctx, request, None, "not authenticated", unauthorized())
        raise unauthorized()
    if principal.user.must_change_password or principal.user.password_expired(ctx.clock()):
        raise deny(ctx, request, principal, "password change required",
                   forbidden("the password must be changed first"))
    if not principal.user.has(permission):
        roles = ", ".join(sorted(r.value for r in principal.user.roles)) or "none"
        what = permission.value.replace("_", " ")
        raise deny(ctx, request, principal, f"lacks permission {permission.value}",
                   forbidden(f"user {principal.username!r} ({roles}) may not {what}"))


def check_origin(ctx: ApiContext, request: web.Request, principal: Principal | None) -> None:
    """Refuse a browser request sent from another site's page (``Origin`` header)."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return
    expected = f"{request.scheme}://{request.host}"
    if origin.rstrip("/") != expected:
        raise deny(ctx, request, principal, f"cross-origin request from {origin}",
                   ApiError(403, "csrf", "cross-origin request refused"))


def check_csrf(ctx: ApiContext, request: web.Request, principal: Principal | None,
               form_token: str | None = None) -> None:
    """A cookie-authenticated state change must present the session's CSRF token.

    The token comes in the ``X-CSRF-Token`` header (fetch) or the ``csrf_token``
    form field (HTML forms). A foreign ``Origin`` is refused as well.
    """
    if principal is None or principal.via != "session" or principal.session is None:
        return
    check_origin(ctx, request, principal)
    token = request.headers.get(CSRF_HEADER) or form_token
    if not principal.session.csrf_ok(token):
        raise deny(ctx, request, principal, "missing or wrong CSRF token",
                   ApiError(403, "csrf", "missing or wrong CSRF token; reload the page"))


async def login(ctx: ApiContext, request: web.Request, username: str,
                password: str) -> tuple[str, Session, User]:
    """Check a password login; returns the new session's cookie value, the session and user.

    Every attempt from an address counts against ``http.login_attempts`` per
    ``http.login_window`` before any password hashing happens, so a flood
    cannot burn the CPU on argon2; the user store adds per-account lockout and
    per-address failure throttling, and audits every success and failure.
    """
    source = source_of(request)
    wait = ctx.limiter.retry_after(source)
    if wait > 0:
        ctx.audit.record("unauthenticated", Action.LOGIN_FAILED, f"user:{username}",
                         new={"source": source, "why": "rate limited"})
        raise ApiError(429, "too_many_requests",
                       f"too many login attempts; try again in {int(wait) + 1} s",
                       headers={"Retry-After": str(int(wait) + 1)})
    ctx.limiter.hit(source)
    try:
        user = await asyncio.to_thread(ctx.users.authenticate, username, password,
                                       source=source)
    except AuthError as err:
        raise ApiError(401, "login_failed", str(err)) from err
    cookie, session = ctx.sessions.create(user.username, source)
    return cookie, session, user


def set_session_cookie(response: web.StreamResponse, ctx: ApiContext, cookie: str) -> None:
    response.set_cookie(COOKIE, cookie, httponly=True, samesite="Strict", path="/",
                        secure=ctx.http.tls, max_age=int(ctx.http.session_max))


def logout(ctx: ApiContext, request: web.Request, principal: Principal | None,
           response: web.StreamResponse) -> None:
    cookie = request.cookies.get(COOKIE)
    if cookie:
        ctx.sessions.revoke(cookie)
    response.del_cookie(COOKIE, path="/")
    if principal is not None:
        ctx.users.logout(principal.username, source=source_of(request))
