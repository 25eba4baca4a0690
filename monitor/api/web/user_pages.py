"""The admin's account pages: list, add, disable/enable, unlock, roles, password reset.

Each read and change runs the API's own route (``forms.run`` with the
handlers of ``monitor.api.routes.users``): the same ``manage_users``
permission, CSRF token, body model, refusals (no delete, no disabling or
demoting oneself, names never reused, the password rules) and audit entries
as ``/api/v1/users``. The page adds only what a form needs: the new password
typed twice, compared before anything is sent on.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from monitor.api.auth import Principal, authenticate
from monitor.api.context import CTX
from monitor.api.errors import ApiError
from monitor.api.routes import users
from monitor.api.routing import Handler

from . import forms, user_views
from .pages import _page
from .qa_views import notice
from .render import Markup

ACTIONS: dict[str, Handler] = {"disable": users.post_disable, "enable": users.post_enable,
                               "unlock": users.post_unlock, "password": users.post_reset,
                               "roles": users.put_roles}
TEXT_FIELDS = {"disable": ("reason",), "enable": ("reason",), "unlock": ("reason",),
               "password": ("password", "reason"), "roles": ("reason",)}



def _done(request: web.Request) -> Markup:
    done = request.query.get("done")
    return notice("ok", user_views.DONE[done]) if done in user_views.DONE else Markup("")


async def _session_user(request: web.Request) -> Principal | None:
    return await authenticate(request, request.app[CTX])


async def list_page(request: web.Request) -> web.StreamResponse:
    return await _list(request, _done(request))


async def _list(request: web.Request, note: Markup, *, status: int = 200,
                kept: dict[str, Any] | None = None) -> web.Response:
    outcome = await forms.run(request, users.list_users)
    forms.raise_for(outcome, "/users")
    principal = await _session_user(request)
    assert principal is not None  # the route needs manage_users: never anonymous
    body = user_views.user_list(outcome.data["users"], principal, note, kept or {})
    return _page("Users", body, principal, nav="users", status=status)


async def detail_page(request: web.Request) -> web.StreamResponse:
    return await _detail(request, _done(request))


async def _detail(request: web.Request, note: Markup, *, status: int = 200) -> web.Response:
    name = request.match_info["username"]
    outcome = await forms.run(request, users.get_user)
    forms.raise_for(outcome, f"/users/{name}")
    principal = await _session_user(request)
    assert principal is not None
    body = user_views.user_detail(outcome.data, principal, note)
    return _page(f"User {name}", body, principal, nav="users", status=status)


def _passwords_match(form: Any) -> Any:
    async def check() -> None:
        if forms.form_text(form, "password") != forms.form_text(form, "password2"):
            raise ApiError(422, "invalid_body", "The two passwords differ; type them again.")
    return check


async def add_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    fields: dict[str, Any] = {name: forms.form_text(form, name)
                              for name in ("username", "full_name", "password", "reason")}
    fields = {k: v for k, v in fields.items() if v}
    fields["roles"] = [r for r in form.getall("roles", []) if isinstance(r, str)]
    outcome = await forms.run(request, users.post_user, fields=fields,
                              token=forms.form_token(form), before=_passwords_match(form))
    if outcome.status == 401:
        raise forms.login_redirect("/users")
    if outcome.ok:
        raise web.HTTPSeeOther(f"/users/{quote(str(outcome.data['username']))}?done=added")
    kept = {k: v for k, v in fields.items() if k != "password"}
    return await _list(request, notice("error", outcome.message), status=outcome.status,
                       kept=kept)


async def action_submit(request: web.Request) -> web.StreamResponse:
    name = request.match_info["username"]
    action = request.match_info["action"]
    form = await request.post()
    fields: dict[str, Any] = {k: forms.form_text(form, k, 500) for k in TEXT_FIELDS[action]}
    fields = {k: v for k, v in fields.items() if v}
    if action == "roles":
        fields["roles"] = [r for r in form.getall("roles", []) if isinstance(r, str)]
    outcome = await forms.run(request, ACTIONS[action], fields=fields,
                              token=forms.form_token(form),
                              before=_passwords_match(form) if action == "password" else None)
    if outcome.status == 401:
        raise forms.login_redirect(f"/users/{name}")
    if outcome.ok:
        raise web.HTTPSeeOther(f"/users/{quote(name)}?done={action}")
    return await _detail(request, notice("error", outcome.message), status=outcome.status)
