"""Hook the HTTP server (API, web page, /metrics) into a runtime.

``monitor.runtime.build_runtime`` calls ``attach(runtime)``; it adds the
server to ``runtime.services`` (started with the runtime, cancelled when it
stops) and its resources to ``runtime.closers``. The audit trail and user
store are shared through ``runtime.extras`` when another component opened
them first. Nothing of the server is imported unless ``http.enabled``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monitor.runtime import Runtime

if TYPE_CHECKING:
    from .server import HttpServer


def _shared(runtime: Runtime, name: str, make: Any) -> Any:
    """An object from ``runtime.extras``, or a new one this runtime closes when it stops."""
    found = runtime.extras.get(name)
    if found is not None:
        return found
    obj = make()
    runtime.extras[name] = obj

    async def close() -> None:
        obj.close()

    runtime.closers.append(close)
    return obj


def attach(runtime: Runtime) -> HttpServer | None:
    cfg = runtime.loaded.config
    if not cfg.http.enabled:
        return None
    # Imported here, not at the top: a daemon with http.enabled off never loads aiohttp,
    # prometheus_client or the API's modules (13 MB of RSS at 10 devices).
    from monitor.audit import AuditTrail
    from monitor.metrics import build_registry
    from monitor.signatures import Signer
    from monitor.users.store import UserStore

    from .context import ApiContext
    from .history import HistoryReader
    from .ratelimit import SlidingWindowLimiter
    from .server import HttpServer
    from .sessions import SessionStore

    data_dir = cfg.data_dir
    audit = _shared(runtime, "audit", lambda: AuditTrail(data_dir))
    users = _shared(runtime, "users", lambda: UserStore(data_dir, audit, cfg.users))
    sessions = SessionStore(data_dir, idle_s=cfg.http.session_idle, max_s=cfg.http.session_max)
    history = HistoryReader(data_dir)
    ctx = ApiContext(
        runtime=runtime,
        registry=build_registry(runtime),
        sessions=sessions,
        users=users,
        audit=audit,
        signer=Signer(users, audit),
        limiter=SlidingWindowLimiter(cfg.http.login_attempts, cfg.http.login_window),
    )
    ctx.extras["history"] = history
    server = HttpServer(ctx)
    runtime.services["http"] = server.serve
    runtime.extras["http"] = server

    async def close() -> None:
        await server.close()
        history.close()
        sessions.close()

    runtime.closers.append(close)
    return server
