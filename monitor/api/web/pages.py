"""The operator's pages; see ``monitor.api.web``."""

from __future__ import annotations

from aiohttp import web


def add_pages(app: web.Application) -> None:
    pass
