"""The HTTP server as a runtime service: bind, serve until cancelled, clean up.

It binds to the configured address (loopback by default) and serves TLS when
a certificate and key are configured. ``port: 0`` picks a free port; the
bound port is in ``HttpServer.port`` once ``started`` is set.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

from aiohttp import web

from monitor.errors import ConfigError
from monitor.logs import log_event

from .app import create_app
from .context import ApiContext

log = logging.getLogger("monitor.api")


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError([f"http.tls_cert/tls_key: cannot load {cert} / {key}: {err}"]) from err
    return context


class HttpServer:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.app = create_app(ctx)
        self.port: int | None = None
        self.started = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        http = self.ctx.http
        scheme = "https" if http.tls else "http"
        host = f"[{http.host}]" if ":" in http.host else http.host
        return f"{scheme}://{host}:{self.port}"

    async def serve(self) -> None:
        http = self.ctx.http
        context = tls_context(http.tls_cert, http.tls_key) if (
            http.tls_cert and http.tls_key) else None
        # a request still running at shutdown gets 2 s: the daemon promises to stop in 5
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False,
                               shutdown_timeout=2.0)
        await runner.setup()
        self._runner = runner
        try:
            site = web.TCPSite(runner, http.host, http.port, ssl_context=context,
                               reuse_address=True)
            await site.start()
            server = site._server
            sockets = getattr(server, "sockets", None) or []
            self.port = int(sockets[0].getsockname()[1]) if sockets else http.port
            log_event(log, logging.INFO, "http listening", url=self.url)
            self.started.set()
            await asyncio.Event().wait()
        finally:
            await self.close()

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
