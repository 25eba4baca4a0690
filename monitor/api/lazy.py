"""Request handlers whose module is imported at their first request.

The daemon serves ``/metrics`` every 15 s, and its pages, OpenAPI document,
QA and user administration now and then, or never: their modules (and what
they import) cost resident memory in every process that loads them. A route
table names such handlers as ``"module:function"``; the module is imported
when a request first reaches one of its routes, in a worker thread so that
the pollers on the event loop keep their schedule meanwhile (the GIL passes
between the two), and the handler is then called directly.

Under the systemd unit's read-only filesystem a late import still reads the
installed package (``ProtectSystem=strict`` leaves it readable); it only
cannot write a ``.pyc``, as the install step already did.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

WebHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def resolve(target: str) -> Any:
    """The object named by ``"package.module:attribute"`` (its module imported if need be)."""
    module_name, _, attr = target.partition(":")
    if not attr:
        raise ValueError(f"{target!r} is not of the form 'module:attribute'")
    return getattr(importlib.import_module(module_name), attr)


async def import_off_loop(modules: Iterable[str]) -> None:
    """Import those of ``modules`` not loaded yet, in a worker thread."""
    missing = [name for name in modules if name not in sys.modules]
    if missing:
        await asyncio.to_thread(_import_all, missing)


def _import_all(modules: list[str]) -> None:
    for name in modules:
        importlib.import_module(name)


async def resolve_off_loop(target: str) -> Any:
    """``resolve``, importing a module not yet loaded in a worker thread."""
    await import_off_loop([target.partition(":")[0]])
    return resolve(target)


def lazy_handler(target: str) -> WebHandler:
    """An aiohttp handler for ``"module:function"`` that imports the module at first use."""
    found: list[WebHandler] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        if not found:
            found.append(await resolve_off_loop(target))
        return await found[0](request)

    handle.__name__ = target.partition(":")[2]
    handle.__qualname__ = handle.__name__
    return handle
