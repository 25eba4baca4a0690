"""An in-process daemon (``monitor.service.Service``) with its HTTP server on a free port.

Tests talk to it over real loopback HTTP. Devices are configured but
disabled unless a test passes connections of its own, so that readings come
only from what the test feeds the pipeline (``Daemon.feed``) or from
simulators the test starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import textwrap
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from monitor.api.server import HttpServer
from monitor.audit import AuditTrail
from monitor.model import Quality, Reading, utc_now_ns
from monitor.runtime import Runtime
from monitor.service import Service
from monitor.users.store import UserStore

PASSWORD = "Correct-Horse-42"
USERS = {  # username -> (full name, roles)
    "olivia": ("Olivia Operator", ["operator"]),
    "erik": ("Erik Engineer", ["engineer"]),
    "quinn": ("Quinn Quality", ["qa"]),
    "ada": ("Ada Admin", ["admin"]),
}

SITE = """\
site: {id: plant-a, name: Plant A}
data_dir: DATA_DIR
profiles:
  counter:
    kind: generic
    family: generic
    source: generic
    channels:
      - {name: p05, quantity: particles_0_5um, unit: particles/m3, address: 0, type: u32}
      - {name: p50, quantity: particles_5_0um, unit: particles/m3, address: 2, type: u32}
  dp:
    kind: differential_pressure
    family: generic
    source: generic
    channels:
      - {name: dp, quantity: differential_pressure, unit: Pa, address: 0, type: s16, scale: 0.1}
  thrh:
    kind: temperature_humidity
    family: generic
    source: generic
    channels:
      - {name: t, quantity: temperature, unit: degC, address: 0, type: f32}
      - {name: rh, quantity: relative_humidity, unit: "%RH", address: 2, type: f32}
connections:
  - {name: gw1, driver: modbus_tcp, host: 127.0.0.1, port: 1}
rooms:
  - name: fill
    description: Aseptic filling
    grade: A
    locations: [{name: fill-1, description: Filling needle}]
  - name: corridor
    grade: C
    locations: [{name: corr-1}]
devices:
  - {name: pc1, connection: gw1, location: fill-1, profile: counter, unit_id: 1, enabled: false}
  - {name: dp1, connection: gw1, location: fill-1, profile: dp, unit_id: 2, enabled: false}
  - {name: th1, connection: gw1, location: corr-1, profile: thrh, unit_id: 3, enabled: false}
alarms:
  limits:
    fill-1:
      - {channel: dp1/dp, low_alert: 12, low_action: 10, priority_action: critical}
      - {channel: pc1/p05, high_alert: 2000, high_action: 3520}
    corr-1:
      - {channel: th1/t, high_alert: 24, high_action: 25}
HTTP
"""


def write_config(directory: Path, http: dict[str, Any] | None = None,
                 extra: str = "") -> Path:
    settings = {"host": "127.0.0.1", "port": 0, **(http or {})}
    http_yaml = "http: {" + ", ".join(f"{k}: {v}" for k, v in settings.items()) + "}\n"
    text = SITE.replace("DATA_DIR", str(directory / "data")).replace("HTTP", http_yaml) + extra
    path = directory / "cleanroom-monitor.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def add_users(data_dir: Path, users: dict[str, tuple[str, list[str]]] = USERS) -> None:
    with AuditTrail(data_dir) as audit, UserStore(data_dir, audit) as store:
        for name, (full_name, roles) in users.items():
            store.add("os:test", name, full_name, roles, PASSWORD, must_change=False)


@dataclass
class Daemon:
    service: Service
    task: asyncio.Task[int]
    config_path: Path
    sessions: list[aiohttp.ClientSession] = field(default_factory=list)

    @property
    def runtime(self) -> Runtime:
        assert self.service.runtime is not None
        return self.service.runtime

    @property
    def server(self) -> HttpServer:
        server = self.runtime.extras["http"]
        assert isinstance(server, HttpServer)
        return server

    @property
    def url(self) -> str:
        return self.server.url

    def feed(self, channel: str, value: float | None,
             quality: Quality = Quality.GOOD, ts_ns: int | None = None) -> None:
        """Readings as a driver would emit them, through the real pipeline."""
        self.runtime.pipeline.ingest([Reading(channel, value, quality, ts_ns or utc_now_ns())])

    def tick(self, now_ns: int | None = None) -> None:
        self.runtime.pipeline.tick(now_ns or utc_now_ns())

    def client(self, **kwargs: Any) -> aiohttp.ClientSession:
        session = aiohttp.ClientSession(base_url=self.url, **kwargs)
        self.sessions.append(session)
        return session

    async def login(self, username: str, password: str = PASSWORD) -> tuple[
            aiohttp.ClientSession, str]:
        """A client with a web session; returns it and the session's CSRF token."""
        client = self.client(cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with client.post("/api/v1/session",
                               json={"username": username, "password": password}) as r:
            body = await r.json()
            assert r.status == 201, body
        return client, str(body["csrf_token"])

    async def wait_started(self) -> None:
        for _ in range(200):
            if self.service.ready.is_set() and self.service.runtime is not None:
                server = self.service.runtime.extras.get("http")
                if server is not None and server.started.is_set():
                    return
            if self.task.done():
                self.task.result()
                raise AssertionError("service stopped during start-up")
            await asyncio.sleep(0.05)
        raise AssertionError("daemon did not start within 10 s")

    async def wait_restarted(self, old: HttpServer) -> None:
        for _ in range(200):
            runtime = self.service.runtime
            server = runtime.extras.get("http") if runtime else None
            if server is not None and server is not old and server.started.is_set():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("daemon did not restart its HTTP server")


@contextlib.asynccontextmanager
async def running_daemon(config_path: Path) -> AsyncIterator[Daemon]:
    service = Service(config_path)
    task = asyncio.create_task(service.run())
    daemon = Daemon(service, task, config_path)
    try:
        await daemon.wait_started()
        yield daemon
    finally:
        for session in daemon.sessions:
            await session.close()
        service.request_stop()
        await asyncio.wait_for(task, 15)


def problems_of(body: dict[str, Any]) -> Sequence[str]:
    return [d["field"] for d in body.get("details") or []]
