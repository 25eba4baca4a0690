"""The aiohttp application: middlewares, API routes, OpenAPI, web pages and static files."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from .context import CTX, ApiContext
from .errors import Handler, error_middleware
from .openapi import openapi_route
from .routes import ROUTES
from .routing import add_routes

STATIC = Path(__file__).parent / "static"


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


def create_app(ctx: ApiContext) -> web.Application:
    app = web.Application(
        client_max_size=ctx.http.max_body,
        middlewares=[security_headers, error_middleware],
    )
    app[CTX] = ctx
    add_routes(app, ROUTES)
    app.router.add_get("/api/v1/openapi.json", openapi_route)
    from .web.pages import add_pages
    from .web.qa_pages import add_qa_pages
    from .web.user_pages import add_user_pages

    add_pages(app)
    add_qa_pages(app)
    add_user_pages(app)
    app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False)
    return app
