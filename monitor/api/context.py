"""What every handler may use, built once per runtime by ``monitor.api.attach``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from monitor.audit import AuditTrail
from monitor.config.api import HttpConfig
from monitor.metrics.registry import RuntimeRegistry
from monitor.model import utc_now_ns
from monitor.runtime import Runtime
from monitor.signatures import Signer
from monitor.users.store import UserStore

from .ratelimit import SlidingWindowLimiter
from .sessions import SessionStore


@dataclass
class ApiContext:
    runtime: Runtime
    registry: RuntimeRegistry
    sessions: SessionStore
    users: UserStore
    audit: AuditTrail
    signer: Signer
    limiter: SlidingWindowLimiter
    clock: Callable[[], int] = utc_now_ns
    extras: dict[str, Any] = field(default_factory=dict)
    scrape_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def http(self) -> HttpConfig:
        return self.runtime.loaded.config.http

    @property
    def alarms(self) -> Any:
        return self.runtime.alarms


CTX: web.AppKey[ApiContext] = web.AppKey("ctx", ApiContext)


def source_of(request: web.Request) -> str:
    """The client address, for the audit trail and the login limiter."""
    return request.remote or "unknown"
