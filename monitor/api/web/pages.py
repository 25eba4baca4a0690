"""The operator's pages: login, overview, active alarms with acknowledge, trends.

Pages are rendered on the server and work without JavaScript; forms post
back here and the same checks as the JSON API apply (session, role, CSRF
token, reason, password re-entry for acknowledging), through the same
``monitor.api.actions`` code. A success redirects (303) so that reloading the
page never repeats an action; a refusal re-renders the page with the reason
and a 4xx status.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from monitor.api import actions
from monitor.api.alarmview import AlarmAccess
from monitor.api.auth import (
    CSRF_FIELD,
    Principal,
    authenticate,
    authorize,
    check_csrf,
    check_origin,
    login,
    logout,
    set_session_cookie,
)
from monitor.api.context import CTX, ApiContext, source_of
from monitor.api.errors import ApiError
from monitor.config.durations import format_duration
from monitor.users.roles import Permission

from . import trend, views
from .render import Markup, esc, page, render

SHELVE_CHOICES = ("30m", "1h", "2h", "4h", "8h", "12h")



def safe_next(target: str | None) -> str:
    """Only local paths: a login must never redirect to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def _viewer(request: web.Request) -> tuple[ApiContext, Principal | None]:
    """Who may see the page; anonymous only when reading is open, else off to the login."""
    ctx = request.app[CTX]
    principal = await authenticate(request, ctx)
    if principal is None and not ctx.http.open_read:
        raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='')}")
    authorize(ctx, request, principal, Permission.VIEW, changes_state=False)
    return ctx, principal


def _user_box(principal: Principal | None) -> Markup:
    if principal is None:
        return Markup('<a href="/login" id="login-link">Log in</a>')
    csrf = principal.session.csrf if principal.session else ""
    roles = ", ".join(sorted(r.value for r in principal.user.roles))
    return Markup(
        f'<span id="current-user" title="{esc(roles)}">{esc(principal.user.full_name)} '
        f"({esc(principal.username)})</span>"
        f'<form method="post" action="/logout"><input type="hidden" name="{CSRF_FIELD}" '
        f'value="{esc(csrf)}"><button type="submit" id="logout">Log out</button></form>')


def _page(title: str, body: Markup, principal: Principal | None, *, nav: str,
          status: int = 200, refresh: int = 0) -> web.Response:
    csrf = principal.session.csrf if principal and principal.session else ""
    admin = principal is not None and principal.user.has(Permission.MANAGE_USERS)
    response = page(title, body, user=_user_box(principal), csrf=csrf, nav=nav, status=status,
                    admin=admin)
    if refresh:
        response.headers["X-Refresh-Seconds"] = str(refresh)
        assert response.text is not None
        response.text = response.text.replace("<body>", f'<body data-refresh="{refresh}">', 1)
    return response


# --- login / logout ---------------------------------------------------------------------


def _login_page(ctx: ApiContext, *, next_path: str, message: str = "", username: str = "",
                status: int = 200) -> web.Response:
    notice = Markup(f'<p class="notice error" id="login-error">{esc(message)}</p>'
                    if message else "")
    body = render("login.html", site=ctx.runtime.loaded.config.site.name, message=notice,
                  next=next_path, username=username,
                  idle=format_duration(ctx.http.session_idle))
    return page("Log in", body, status=status)


async def login_form(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    next_path = safe_next(request.query.get("next"))
    if await authenticate(request, ctx) is not None:
        raise web.HTTPSeeOther(next_path)
    return _login_page(ctx, next_path=next_path)


def _field(form: Any, name: str, limit: int = 1024) -> str:
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    return value.strip()[:limit] if name != "password" else value[:limit]


async def login_submit(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    form = await request.post()
    next_path = safe_next(_field(form, "next"))
    username = _field(form, "username", 64)
    password = _field(form, "password")
    check_origin(ctx, request, None)
    if not username or not password:
        return _login_page(ctx, next_path=next_path, username=username, status=400,
                           message="Enter your user name and password.")
    try:
        cookie, _session, _user = await login(ctx, request, username, password)
    except ApiError as err:
        return _login_page(ctx, next_path=next_path, username=username, status=err.status,
                           message=err.message)
    response = web.HTTPSeeOther(next_path)
    set_session_cookie(response, ctx, cookie)
    raise response


async def logout_submit(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    principal = await authenticate(request, ctx)
    form = await request.post()
    check_csrf(ctx, request, principal, _field(form, CSRF_FIELD))
    response = web.HTTPSeeOther("/login")
    logout(ctx, request, principal, response)
    raise response


# --- overview, alarms, trend --------------------------------------------------------------


async def overview(request: web.Request) -> web.StreamResponse:
    ctx, principal = await _viewer(request)
    body = views.overview(ctx.runtime, AlarmAccess(ctx.runtime))
    return _page("Overview", body, principal, nav="overview", refresh=10)


async def alarms_page(request: web.Request) -> web.StreamResponse:
    ctx, principal = await _viewer(request)
    notice = views.done_notice(request.query.get("done"), request.query.get("alarm"))
    return _alarms(ctx, principal, notice)


def _alarms(ctx: ApiContext, principal: Principal | None, notice: Markup,
            status: int = 200) -> web.Response:
    body = views.alarms(ctx.runtime, AlarmAccess(ctx.runtime), principal, notice,
                        SHELVE_CHOICES)
    return _page("Alarms", body, principal, nav="alarms", status=status,
                 refresh=0 if status >= 400 else 15)


_PERMISSION = {"acknowledge": Permission.ACKNOWLEDGE, "shelve": Permission.SHELVE,
               "unshelve": Permission.SHELVE}


async def alarm_submit(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    principal = await authenticate(request, ctx)
    action = request.match_info["action"]
    ref = request.match_info["alarm"]
    if principal is None:
        authorize(ctx, request, None, _PERMISSION[action], changes_state=True)
        raise web.HTTPSeeOther("/login?next=/alarms")
    form = await request.post()
    try:
        check_csrf(ctx, request, principal, _field(form, CSRF_FIELD))
        authorize(ctx, request, principal, _PERMISSION[action], changes_state=True)
        reason = _field(form, "reason", 500)
        if len(reason) < 3:
            raise ApiError(422, "invalid_body", "Give a reason (at least 3 characters).")
        if action == "acknowledge":
            password = _field(form, "password")
            if not password:
                raise ApiError(422, "invalid_body", "Re-enter your password to sign.")
            await actions.acknowledge(ctx, principal, ref, reason=reason, password=password,
                                      source=source_of(request))
        elif action == "shelve":
            duration = _field(form, "duration", 8)
            if duration not in SHELVE_CHOICES:
                raise ApiError(422, "invalid_body", "Choose how long to shelve.")
            from monitor.config.durations import parse_duration

            actions.shelve(ctx, principal, ref, reason, parse_duration(duration))
        else:
            actions.unshelve(ctx, principal, ref, reason)
    except ApiError as err:
        return _alarms(ctx, principal, views.error_notice(err.message), status=err.status)
    except Exception as err:
        from monitor.errors import MonitorError

        if not isinstance(err, MonitorError):
            raise
        return _alarms(ctx, principal, views.error_notice(str(err)), status=409)
    raise web.HTTPSeeOther(f"/alarms?done={action}&alarm={quote(ref, safe='')}")


async def trend_page(request: web.Request) -> web.StreamResponse:
    ctx, principal = await _viewer(request)
    cid = f"{request.match_info['device']}/{request.match_info['channel']}"
    info = ctx.runtime.loaded.channels.get(cid)
    if info is None:
        raise ApiError(404, "not_found", f"channel {cid!r} not found")
    try:
        hours = float(request.query.get("hours", "6"))
    except ValueError:
        hours = 6.0
    hours = min(max(hours, 0.25), 72.0)
    body = await trend.trend(ctx, info, hours)
    return _page(f"Trend {cid}", body, principal, nav="", refresh=60)
