"""HTML rendering with the standard library: templates with ``$name`` slots, escaped values.

No template engine and no build step: the pages are small, every inserted
value goes through ``html.escape`` unless it was built here from escaped
parts (``Markup``).
"""

from __future__ import annotations

import html
import json
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

from aiohttp import web

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


class Markup(str):
    """Text that is already HTML (built from escaped parts): inserted as is."""


def esc(value: object) -> Markup:
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def join(parts: list[Markup] | list[str]) -> Markup:
    return Markup("".join(esc(p) for p in parts))


@cache
def template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def render(name: str, **values: Any) -> Markup:
    return Markup(template(name).substitute({k: esc(v) for k, v in values.items()}))


def page(title: str, body: Markup, *, user: str | None = None, csrf: str = "",
         status: int = 200, nav: str = "", admin: bool = False) -> web.Response:
    text = render("layout.html", title=title, body=body, user=user or "",
                  csrf=csrf, nav=nav_links(nav, user is not None, admin=admin))
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def nav_links(active: str, logged_in: bool, *, admin: bool = False) -> Markup:
    """``admin``: the user may manage accounts, so the Users page is offered."""
    items = [("overview", "/", "Overview"), ("alarms", "/alarms", "Alarms"),
             ("qa", "/qa/excursions", "Excursions")]
    if admin:
        items.append(("users", "/users", "Users"))
    out = []
    for key, href, label in items:
        cls = ' class="active"' if key == active else ""
        out.append(f'<a href="{href}"{cls}>{label}</a>')
    return Markup(" ".join(out))


def json_script(element_id: str, data: Any) -> Markup:
    """Data for the page's scripts, safe inside <script type=application/json>."""
    text = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c").replace(
        ">", "\\u003e").replace("&", "\\u0026")
    return Markup(f'<script type="application/json" id="{esc(element_id)}">{text}</script>')


def error_page(response: web.Response) -> web.Response:
    """An HTML rendering of an API-style JSON error, for browsers."""
    try:
        doc = json.loads(response.text or "{}")
    except json.JSONDecodeError:
        doc = {}
    message = doc.get("message") or response.reason or "error"
    body = Markup(f'<section class="error"><h1>{esc(response.status)} {esc(response.reason)}'
                  f'</h1><p>{esc(message)}</p><p><a href="/">Back to the overview</a></p>'
                  "</section>")
    out = page(f"Error {response.status}", body, status=response.status)
    for key in ("WWW-Authenticate", "Retry-After", "Allow"):
        if key in response.headers:
            out.headers[key] = response.headers[key]
    return out
