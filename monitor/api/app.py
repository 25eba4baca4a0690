"""The aiohttp application: middlewares, API routes, OpenAPI, web pages and static files.

The web pages, the OpenAPI document and their modules are imported at their
first request (``monitor.api.lazy``): a daemon that is only scraped never
loads them. ``PAGES`` lists their routes, in the order they are matched.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from .context import CTX, ApiContext
from .errors import Handler, error_middleware
from .lazy import lazy_handler
from .routes import ROUTES
from .routing import add_routes

STATIC = Path(__file__).parent / "static"

_WEB = "monitor.api.web."
#: (method, path, "module:handler") of the server-rendered pages
PAGES: tuple[tuple[str, str, str], ...] = (
    ("GET", "/", _WEB + "pages:overview"),
    ("GET", "/login", _WEB + "pages:login_form"),
    ("POST", "/login", _WEB + "pages:login_submit"),
    ("POST", "/logout", _WEB + "pages:logout_submit"),
    ("GET", "/alarms", _WEB + "pages:alarms_page"),
    ("POST", "/alarms/{alarm}/{action:acknowledge|shelve|unshelve}", _WEB + "pages:alarm_submit"),
    ("GET", "/trend/{device}/{channel}", _WEB + "pages:trend_page"),
    ("GET", "/qa/excursions", _WEB + "qa_pages:list_page"),
    ("GET", "/qa/excursions/{excursion}", _WEB + "qa_pages:detail_page"),
    ("POST", "/qa/excursions/{excursion}/{action:review|comment|close}", _WEB + "qa_pages:submit"),
    ("GET", "/users", _WEB + "user_pages:list_page"),
    ("POST", "/users", _WEB + "user_pages:add_submit"),
    ("GET", "/users/{username}", _WEB + "user_pages:detail_page"),
    ("POST", "/users/{username}/{action:disable|enable|unlock|password|roles}",
     _WEB + "user_pages:action_submit"),
)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    if not request.path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-store")
    if request.app[CTX].http.tls:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def add_pages(app: web.Application) -> None:
    for method, path, target in PAGES:
        if method == "GET":
            app.router.add_get(path, lazy_handler(target))  # and HEAD, as aiohttp's add_get
        else:
            app.router.add_route(method, path, lazy_handler(target))


def create_app(ctx: ApiContext) -> web.Application:
    app = web.Application(
        client_max_size=ctx.http.max_body,
        middlewares=[security_headers, error_middleware],
    )
    app[CTX] = ctx
    add_routes(app, ROUTES)
    app.router.add_get("/api/v1/openapi.json", lazy_handler("monitor.api.openapi:openapi_route"))
    add_pages(app)
    app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False)
    return app
