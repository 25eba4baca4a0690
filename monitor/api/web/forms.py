"""Web forms run the JSON API's own routes: one permission, one CSRF check, one handler.

A page's form posts ``application/x-www-form-urlencoded``; ``run`` takes the
steps ``routing.wrap`` takes for JSON, in the same order (authenticate,
authorize with the route's permission, check the session's CSRF token,
validate the fields with the route's body model) and then calls the route's
own handler. A refusal goes through the API's error mapping, so a page shows
the status and message the API would answer, and the audit trail cannot tell
a form from a JSON request: a denied form is the same ``access.denied`` entry,
a wrong signature password the same ``signature.failed``. Page handlers hold
no business rule of their own.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel, ValidationError

from monitor.api.auth import CSRF_FIELD, authenticate, authorize, check_csrf
from monitor.api.context import CTX
from monitor.api.errors import ApiError, _guarded, validation_details
from monitor.api.routes import ROUTES
from monitor.api.routing import ApiRequest, Handler, NoQuery, Route

#: Field names the page shows for the API's body fields in an error message.
LABELS = {"root_cause": "root cause", "root_cause_detail": "root cause detail",
          "impact_assessment": "impact assessment", "full_name": "full name",
          "capa": "CAPA", "password": "password", "reason": "reason", "roles": "roles",
          "username": "user name", "comment": "comment", "meaning": "meaning"}


def route_of(handler: Handler) -> Route:
    """The API route served by ``handler``: its permission and body model are the form's."""
    for route in ROUTES:
        # by name first: a lazily loaded route is resolved only when it may be the one
        if route.name == handler.__name__ and route.handler_fn is handler:
            return route
    raise LookupError(f"no API route is served by {handler.__name__}")


@dataclass(frozen=True)
class Outcome:
    """The API's answer to a form: its JSON document (result or error) and status."""

    status: int
    data: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def message(self) -> str:
        """The API's message, with the fields it names in words (never the values sent)."""
        text = str(self.data.get("message") or self.data.get("error") or "refused")
        details = self.data.get("details")
        if self.data.get("error") == "invalid_body" and isinstance(details, list) and details:
            parts = []
            for item in details:
                field = str(item.get("field", "")).split(".")[0]
                parts.append(f"{LABELS.get(field, field)}: {item.get('problem', '')}")
            text = "Please correct: " + "; ".join(parts)
        return text


def form_text(form: Mapping[str, Any], name: str, limit: int = 4000) -> str:
    """A text field, trimmed (passwords are taken exactly as typed)."""
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    return value[:1024] if "password" in name else value.strip()[:limit]


def form_token(form: Mapping[str, Any]) -> str | None:
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else None


async def run(request: web.Request, handler: Handler, *, fields: Mapping[str, Any] | None = None,
              token: str | None = None, query: BaseModel | None = None,
              before: Callable[[], Awaitable[None]] | None = None) -> Outcome:
    """Answer ``request`` with the API route of ``handler``, its body taken from ``fields``.

    ``before`` runs once the caller is known to be allowed (after the CSRF check
    and the body's validation), just before the handler: a page's own check
    that the form is not stale, which must not pre-empt the API's refusals.
    """
    route = route_of(handler)

    async def call(req: web.Request) -> web.StreamResponse:
        ctx = req.app[CTX]
        principal = await authenticate(req, ctx)
        authorize(ctx, req, principal, route.permission, changes_state=route.changes_state)
        if route.changes_state and route.csrf:
            check_csrf(ctx, req, principal, token)
        body = None
        model = route.body_model
        if model is not None:
            try:
                body = model.model_validate(dict(fields or {}))
            except ValidationError as err:
                raise ApiError(422, "invalid_body", "the form does not match the schema",
                               validation_details(err)) from err
        if before is not None:
            await before()
        return await route.handler_fn(ApiRequest(req, ctx, principal, query or NoQuery(), body))

    response = await _guarded(request, call)
    text = response.text if isinstance(response, web.Response) else None
    try:
        data = json.loads(text or "{}")
    except json.JSONDecodeError:
        data = {"error": "internal", "message": text or "no answer"}
    return Outcome(response.status, data if isinstance(data, dict) else {"data": data})


def login_redirect(path: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/login?next={quote(path, safe='')}")


def raise_for(outcome: Outcome, path: str) -> None:
    """A refused page view: off to the login when not logged in, else the error page."""
    if outcome.ok:
        return
    if outcome.status == 401:
        raise login_redirect(path)
    raise ApiError(outcome.status, str(outcome.data.get("error", "error")), outcome.message)
