"""Helpers of the notifier tests: alarm events, a real webhook receiver, config building."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from monitor.alarms.events import AlarmEvent, AlarmState, EventKind, Level, Mode
from monitor.config.notify import NotifyConfig
from tests.fixtures.ports import free_port

T0 = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z


def event(seq: int, kind: str = "raised", *, alarm_id: int = 1, state: str = "active_unack",
          ts_ns: int = T0, priority: str = "high", level: str = "action",
          location: str = "fill-b-1", mode: str = "in_service", **extra: Any) -> AlarmEvent:
    """An alarm event as the engine makes it (see monitor/alarms/events.py)."""
    return AlarmEvent(
        seq=seq, id=f"ev-{seq}", ts_ns=ts_ns, kind=EventKind(kind), alarm_id=alarm_id,
        point=f"pc1/particles_0_5um:{level}_high", location=location,
        channel="pc1/particles_0_5um", rule=f"{level}_high", level=Level(level),
        priority=priority, state=AlarmState(state), mode=Mode(mode), value=400_000.0,
        limit=352_000.0, location_state="in_operation", **extra,
    )


def notify_config(notifiers: list[dict[str, Any]], routes: list[dict[str, Any]] | None = None,
                  **extra: Any) -> NotifyConfig:
    return NotifyConfig.model_validate({
        "notifiers": notifiers, "routes": routes or [],
        "retry": {"initial": "20ms", "max": "100ms", "max_attempts": 5, "timeout": "5s"},
        **extra,
    })


@dataclass
class Hit:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class WebhookReceiver:
    """A real aiohttp server; answers ``statuses`` in turn (then 200), records every hit."""

    secret: bytes = b"webhook-secret"
    statuses: list[int] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def accepted(self) -> list[Hit]:
        return [h for h in self.hits if h.headers.get("X-Test-Answer") == "200"]

    def signature_ok(self, hit: Hit) -> bool:
        timestamp = hit.headers["X-Cleanroom-Timestamp"]
        expected = "sha256=" + hmac.new(self.secret, timestamp.encode() + b"." + hit.body,
                                        hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, hit.headers.get("X-Cleanroom-Signature", ""))

    async def _handle(self, request: web.Request) -> web.Response:
        status = self.statuses.pop(0) if self.statuses else 200
        headers = dict(request.headers)
        headers["X-Test-Answer"] = str(status)
        self.hits.append(Hit(headers, await request.read()))
        return web.Response(status=status, text="ok" if status == 200 else "nope")

    async def wait_accepted(self, count: int, timeout: float = 20.0) -> list[Hit]:
        async with asyncio.timeout(timeout):
            while len(self.accepted()) < count:
                await asyncio.sleep(0.01)
        return self.accepted()


@contextlib.asynccontextmanager
async def webhook_receiver(**kwargs: Any) -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver(**kwargs)
    app = web.Application()
    app.router.add_post("/hook", receiver._handle)
    runner = web.AppRunner(app)
    await runner.setup()
    receiver.port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", receiver.port)
    await site.start()
    try:
        yield receiver
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def dispatching(dispatcher: Any) -> AsyncIterator[Any]:
    """Run a dispatcher's workers for the block, then stop and close it."""
    task = asyncio.create_task(dispatcher.run())
    try:
        yield dispatcher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await dispatcher.close()
