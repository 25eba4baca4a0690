"""A site config with one InfluxDB sink, its data directory, users, and the CLI as a process.

The daemon's side (the embedded store and the sink's forwarder) runs in the
test's event loop; the ``outbox`` command runs as a separate process, as an
engineer would run it next to the service, so the two meet only in
``readings.db``.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.audit import AuditTrail
from monitor.config import LoadedConfig, load_config
from monitor.storage.embedded import EmbeddedStore
from monitor.storage.factory import readings_path
from monitor.users.store import UserStore
from tests.storage.support import FAST, add_forwarder

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Resend-Pass-2026"

CONFIG = """\
site: {{id: plant-a, name: Plant A}}
data_dir: {data_dir}
profiles:
  dp-generic:
    kind: differential_pressure
    family: generic
    source: generic
    channels:
      - {{name: dp, quantity: differential_pressure, unit: Pa, address: 0, type: s16}}
connections:
  - {{name: gw, driver: modbus_tcp, host: 127.0.0.1, port: 5020}}
rooms:
  - name: fill
    grade: B
    locations:
      - {{name: fill-1}}
devices:
  - {{name: dp1, connection: gw, location: fill-1, profile: dp-generic, unit_id: 1,
      poll_interval: 1s}}
storage:
  sinks:
    - {sink}
"""


def write_config(tmp_path: Path, sink: dict[str, Any]) -> tuple[Path, LoadedConfig]:
    """A config whose one sink is ``sink`` (with the storage tests' fast timings)."""
    import json

    path = tmp_path / "cleanroom-monitor.yaml"
    path.write_text(CONFIG.format(data_dir=tmp_path / "data", sink=json.dumps({**FAST, **sink})))
    loaded = load_config(path)
    with AuditTrail(loaded.config.data_dir) as trail, \
            UserStore(loaded.config.data_dir, trail, loaded.config.users) as users:
        users.add("os:test", "eng1", "Eddie Engineer", ["engineer"], PASSWORD, must_change=False)
        users.add("os:test", "op1", "Olga Operator", ["operator"], PASSWORD, must_change=False)
    return path, loaded


@dataclass
class Daemon:
    """The daemon's storage side: the embedded store and the configured sink's forwarder."""

    store: EmbeddedStore
    task: asyncio.Task[None]

    @property
    def forwarder(self) -> Any:
        return self.store.forwarders[0]

    async def stop(self) -> None:
        """A clean stop, as the service's: the store closes, then its task is cancelled and
        awaited, so the sink's forwarder has ended (its HTTP request in flight recorded)."""
        await self.store.close()
        self.task.cancel()
        await asyncio.wait([self.task])
        if not self.task.cancelled() and self.task.exception() is not None:
            raise self.task.exception()  # type: ignore[misc]


def start_daemon(loaded: LoadedConfig, **attrs: Any) -> Daemon:
    store = EmbeddedStore(readings_path(loaded.config.data_dir), {}, commit_interval=0.05)
    add_forwarder(store, loaded.config.storage.sinks[0], **attrs)
    return Daemon(store, asyncio.create_task(store.run()))


@dataclass
class Result:
    status: int
    out: str
    err: str


async def cli(*args: str, stdin: str = "") -> Result:
    """``cleanroom-monitor ARGS`` as its own process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor.cli.main", *args, cwd=ROOT,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 90)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


async def cancel(config: Path, request_id: int, *extra: str, user: str = "eng1",
                 reason: str = "wrong window", password: str = PASSWORD) -> Result:
    return await cli("outbox", "cancel", "-c", str(config), str(request_id), "--user", user,
                     "--reason", reason, "--password-stdin", *extra, stdin=password + "\n")


def request_row(db: Path, request_id: int) -> dict[str, Any]:
    """A request's row of ``outbox_resend_requests`` (what ``outbox requests`` shows)."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM outbox_resend_requests WHERE id = ?",
                           (request_id,)).fetchone()
    return {} if row is None else dict(row)


async def resend(config: Path, sink: str, *extra: str, user: str = "eng1",
                 reason: str = "cause fixed", password: str = PASSWORD) -> Result:
    return await cli("outbox", "resend", "-c", str(config), "--sink", sink, "--user", user,
                     "--reason", reason, "--password-stdin", *extra, stdin=password + "\n")
