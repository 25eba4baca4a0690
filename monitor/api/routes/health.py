"""Liveness, readiness and the Prometheus scrape endpoint.

``/healthz`` says the process answers (systemd's watchdog covers a wedged
loop); ``/readyz`` says it is doing its job: a config is in force, the store
can write, the pollers run. A load balancer or a site monitoring check reads
the latter.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from monitor.api.errors import unauthorized
from monitor.api.routing import ApiRequest, NoQuery, Route, ok
from monitor.metrics import render
from monitor.users.roles import Permission


async def healthz(req: ApiRequest[NoQuery, None]) -> web.StreamResponse:
    return ok({"status": "ok"})


def readiness(req: ApiRequest[Any, Any]) -> tuple[bool, dict[str, Any]]:
    runtime = req.ctx.runtime
    checks: dict[str, Any] = {
        "config": {"ok": True, "sha256": runtime.loaded.sha256},
    }
    problems = {s.name: str(getattr(s, "disk_problem", "")) for s in runtime.stores
                if getattr(s, "disk_problem", None)}
    checks["store"] = {"ok": not problems and bool(runtime.stores), "problems": problems}
    health = runtime.extras.get("storage_health")
    if callable(health):  # sinks failing, outbox filling: worth seeing, not "not ready"
        checks["store"]["warnings"] = list(health())
    running = runtime.driver_tasks_running
    checks["pollers"] = {"ok": running, "drivers": len(runtime.drivers)}
    checks["alarms"] = {"ok": runtime.alarms is not None}
    return all(c["ok"] for c in checks.values()), checks


async def readyz(req: ApiRequest[NoQuery, None]) -> web.StreamResponse:
    ready, checks = readiness(req)
    return ok({"ready": ready, "checks": checks}, status=200 if ready else 503)


def accepts_gzip(header: str) -> bool:
    """``Accept-Encoding`` lists gzip (or ``*``) without ``q=0``."""
    for entry in header.lower().split(","):
        token, _, params = entry.strip().partition(";")
        if token.strip() in ("gzip", "*"):
            q = params.strip().removeprefix("q=")
            try:
                return not params.strip() or float(q) > 0
            except ValueError:
                return True
    return False


async def metrics(req: ApiRequest[NoQuery, None]) -> web.StreamResponse:
    if not req.ctx.http.open_metrics and (
            req.principal is None or not req.principal.user.has(Permission.VIEW)):
        raise unauthorized("/metrics needs an API token (http.open_metrics is off)")
    # Collectors copy live state on the event loop (prepare), then the encoding, which takes
    # most of the time at thousands of channels, runs in a worker thread: polling goes on.
    # One scrape at a time, so that two scrapers never interleave prepare and collect.
    # Prometheus asks for gzip: the text (25 MB at 2,000 devices) is compressed as it is
    # encoded, ~30x, and never held whole.
    gzip = accepts_gzip(req.request.headers.get("Accept-Encoding", ""))
    async with req.ctx.scrape_lock:
        req.ctx.registry.prepare()
        body, content_type = await asyncio.to_thread(render, req.ctx.registry,
                                                     req.request.headers.get("Accept"), gzip)
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    if gzip:
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept, Accept-Encoding"
    return response


ROUTES = (
    Route("GET", "/healthz", healthz, "Liveness: the daemon answers", permission=None,
          tag="health"),
    Route("GET", "/readyz", readyz, "Readiness: config in force, store writable, pollers "
          "running (503 when not)", permission=None, tag="health", responses=(503,)),
    Route("GET", "/metrics", metrics, "Prometheus metrics (text exposition or OpenMetrics)",
          permission=None, tag="health"),
)
