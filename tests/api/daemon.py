"""An in-process daemon (``monitor.service.Service``) polling Modbus simulators.

The site: a grade A filling room with a particle counter and a DP
transmitter, a grade C corridor with a T/RH transmitter, all served by one
in-process ``ModbusSimulator`` on a free port. The HTTP server binds a free
loopback port. Tests talk to it over real HTTP and steer the physics through
``Site.world`` / ``Site.sim`` (e.g. force the DP low to raise an alarm).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from monitor.api.server import HttpServer
from monitor.audit import AuditTrail
from monitor.runtime import Runtime
from monitor.service import Service
from monitor.users.store import UserStore
from simulators import ModbusSimulator, SimClock, World, sim_device

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Correct-Horse-42"
USERS = {  # username -> (full name, roles)
    "olivia": ("Olivia Operator", ["operator"]),
    "erik": ("Erik Engineer", ["engineer"]),
    "quinn": ("Quinn Quality", ["qa"]),
    "ada": ("Ada Admin", ["admin"]),
}
DP_ALARM = "dp1/dp:low_action"

SITE = """\
site: {{id: plant-a, name: Plant A}}
data_dir: {data_dir}
include: ["{root}/config/devices/*.yaml"]
connections:
  - {{name: gw1, driver: modbus_tcp, host: 127.0.0.1, port: {port}, timeout: 500ms}}
rooms:
  - name: fill
    description: Aseptic filling
    grade: A
    locations: [{{name: fill-1, description: Filling needle}}]
  - name: corridor
    grade: C
    locations: [{{name: corr-1}}]
devices:
  - {{name: pc1, connection: gw1, location: fill-1, profile: lighthouse-remote-4ch, unit_id: 1,
     poll_interval: 1s}}
  - {{name: dp1, connection: gw1, location: fill-1, profile: dp-generic, unit_id: 2,
     poll_interval: 500ms}}
  - {{name: th1, connection: gw1, location: corr-1, profile: vaisala-hmt330, unit_id: 3,
     poll_interval: 1s}}
alarms:
  preset_alert_fraction: 0.5
  limits:
    fill-1:
      - {{channel: dp1/dp, low_alert: 12, low_action: 10, priority_action: critical}}
    corr-1:
      - {{channel: th1/temperature, high_alert: 24, high_action: 25}}
{http}
{extra}
"""


def write_config(directory: Path, port: int, http: dict[str, Any] | None = None,
                 extra: str = "") -> Path:
    settings = {"host": "127.0.0.1", "port": 0, "login_attempts": 1000, **(http or {})}
    http_yaml = "http: {" + ", ".join(f"{k}: {v}" for k, v in settings.items()) + "}"
    path = directory / "cleanroom-monitor.yaml"
    path.write_text(SITE.format(data_dir=directory / "data", root=ROOT, port=port,
                                http=http_yaml, extra=extra))
    return path


def add_users(data_dir: Path, users: dict[str, tuple[str, list[str]]] = USERS) -> None:
    with AuditTrail(data_dir) as audit, UserStore(data_dir, audit) as store:
        for name, (full_name, roles) in users.items():
            store.add("os:test", name, full_name, roles, PASSWORD, must_change=False)


@contextlib.asynccontextmanager
async def simulated_site(particle_sample_s: int = 60) -> AsyncIterator[tuple[World,
                                                                             ModbusSimulator]]:
    world = World(SimClock())
    world.location("fill-1").set(state="in_operation")
    devices = [
        sim_device(world, "pc1", 1, "lighthouse-remote-4ch", "fill-1",
                   sample_s=particle_sample_s),
        sim_device(world, "dp1", 2, "dp-generic", "fill-1", nominal_pa=15.0),
        sim_device(world, "th1", 3, "vaisala-hmt330", "corr-1"),
    ]
    async with ModbusSimulator(devices, world=world, host="127.0.0.1", port=0) as sim:
        yield world, sim


@dataclass
class Daemon:
    service: Service
    task: asyncio.Task[int]
    config_path: Path
    world: World
    sim: ModbusSimulator
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

    @property
    def data_dir(self) -> Path:
        return Path(self.runtime.loaded.config.data_dir)

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

    def token(self, username: str) -> str:
        """An API token for ``username`` (as ``cleanroom-monitor user token`` makes one)."""
        users = self.runtime.extras["users"]
        _info, secret = users.tokens.issue("os:test", username, f"test {username}")
        return str(secret)

    def force_dp(self, pascals: float | None) -> None:
        self.sim.device("dp1").model.force("differential_pressure", pascals)

    async def wait_for(self, check: Callable[[], Any] | Callable[[], Awaitable[Any]],
                       timeout: float = 10.0, what: str = "condition") -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.1)

    async def dp_alarm(self) -> Any:
        """Force the DP below its action limit and wait for the alarm."""
        self.force_dp(5.0)

        def raised() -> Any:
            return next((a for a in self.runtime.alarms.active()
                         if a.point == DP_ALARM and a.state == "active_unack"), None)

        return await self.wait_for(raised, what="the DP action alarm")

    async def wait_started(self) -> None:
        await self.wait_for(self._started, timeout=15, what="daemon start-up")

    def _started(self) -> bool:
        if self.task.done():
            self.task.result()
            raise AssertionError("service stopped during start-up")
        runtime = self.service.runtime
        server = runtime.extras.get("http") if runtime else None
        return bool(self.service.ready.is_set() and server is not None
                    and server.started.is_set())


@contextlib.asynccontextmanager
async def running_daemon(directory: Path, *, http: dict[str, Any] | None = None,
                         extra: str = "", users: bool = True,
                         particle_sample_s: int = 60) -> AsyncIterator[Daemon]:
    async with simulated_site(particle_sample_s) as (world, sim):
        path = write_config(directory, sim.port, http, extra)
        if users:
            add_users(directory / "data")
        service = Service(path)
        task = asyncio.create_task(service.run())
        daemon = Daemon(service, task, path, world, sim)
        try:
            await daemon.wait_started()
            yield daemon
        finally:
            for session in daemon.sessions:
                await session.close()
            service.request_stop()
            done, _ = await asyncio.wait({task}, timeout=15)
            if done:
                task.result()
            else:
                # Seen under heavy load: Service gives Runtime.stop 4 s and then leaves the
                # store tasks running, so its TaskGroup never ends. That is the service's
                # shutdown, not what these tests test: say where it hung, and go on.
                stacks = io.StringIO()
                for pending in asyncio.all_tasks():
                    pending.print_stack(limit=3, file=stacks)
                task.cancel()
                await asyncio.wait({task}, timeout=5)
                warnings.warn(f"daemon did not stop within 15 s:\n{stacks.getvalue()}",
                              RuntimeWarning, stacklevel=1)
