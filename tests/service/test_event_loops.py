"""The real daemon on each event loop it can run on: uvloop (the default) and asyncio's own.

Whatever loop the rest of the suite runs on (CLEANROOM_TEST_LOOP), these start
``cleanroom-monitor run`` as systemd does on both, against real servers: Modbus
TCP, RTU over TCP and serial RTU on a socat pty (pymodbus reads the pty through
the loop's add_reader), a Mosquitto broker (the MQTT driver's own socket
reader), the HTTP API and /metrics (aiohttp), sd_notify with the watchdog,
SIGHUP reloading a changed config and SIGTERM stopping with every accepted
reading on disk.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import sys
import time
from importlib.metadata import version
from pathlib import Path

import aiohttp
import aiomqtt
import pytest

from monitor import eventloop
from monitor.config import load_config
from monitor.errors import ConfigError
from simulators.site import SiteSimulation
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.ports import free_port
from tests.service.test_lifecycle import LogReader, count_rows

REPO = Path(__file__).resolve().parents[2]
UVLOOP = "uvloop " + version("uvloop")


def site_config(tmp: Path, ports: dict[str, int], broker: Mosquitto, *, loop_line: str,
                extra_device: bool = False) -> str:
    devices = [
        "  - {name: dp-tcp, connection: tcp, location: fill-1, profile: dp-generic, unit_id: 1,"
        " poll_interval: 200ms}",
        "  - {name: dp-rtu-tcp, connection: rtu-tcp, location: fill-1, profile: dp-generic,"
        " unit_id: 2, poll_interval: 200ms}",
        "  - {name: dp-serial, connection: serial, location: fill-1, profile: dp-generic,"
        " unit_id: 3, poll_interval: 200ms}",
        "  - {name: dp-mqtt, connection: broker, location: fill-1, profile: dp-mqtt,"
        " topic: loops/dp}",
    ]
    if extra_device:
        devices.append("  - {name: dp-new, connection: tcp, location: fill-1,"
                       " profile: dp-generic, unit_id: 4, poll_interval: 200ms}")
    return f"""\
site: {{id: loop-site, name: Event loop test site}}
data_dir: {tmp / "data"}
include: ["{REPO}/config/devices/*.yaml"]
{loop_line}
http: {{enabled: true, port: {ports["http"]}}}
connections:
  - {{name: tcp, driver: modbus_tcp, host: 127.0.0.1, port: {ports["tcp"]}, timeout: 500ms}}
  - {{name: rtu-tcp, driver: modbus_rtu_over_tcp, host: 127.0.0.1, port: {ports["rtu"]},
     timeout: 500ms}}
  - {{name: serial, driver: modbus_rtu, port: {tmp / "ttyRS485"}, baudrate: 115200,
     timeout: 500ms}}
  - {{name: broker, driver: mqtt, host: {broker.host}, port: {broker.port},
     client_id: loop-test}}
rooms:
  - name: fill
    grade: B
    locations:
      - {{name: fill-1}}
devices:
{chr(10).join(devices)}
"""


async def publish_dp(broker: Mosquitto, stop: asyncio.Event) -> None:
    """A DP transmitter on MQTT: a plain number in Pa every 100 ms."""
    async with aiomqtt.Client(broker.host, broker.port, identifier="loop-test-dp") as client:
        value = 12.0
        while not stop.is_set():
            await client.publish("loops/dp/dp", f"{value:.1f}", qos=1)
            value = 12.0 if value > 14 else value + 0.1
            await asyncio.sleep(0.1)


async def notify_messages(sock: socket.socket, into: list[str]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        into.append((await loop.sock_recv(sock, 4096)).decode())


def good_rows(data_dir: Path, device: str) -> int:
    """Readings of ``device`` stored with quality good (a comm error is stored too)."""
    with sqlite3.connect(data_dir / "readings.db") as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'readings'").fetchone():
            return 0
        row = conn.execute(
            "SELECT count(*) FROM readings r JOIN series s ON s.id = r.series "
            "WHERE s.device = ? AND r.quality = 'good'", (device,),
        ).fetchone()
    return int(row[0])


async def wait_good_rows(data_dir: Path, device: str, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rows := good_rows(data_dir, device):
            return rows
        await asyncio.sleep(0.2)
    raise AssertionError(f"no good reading of {device} stored within {timeout} s")


@pytest.mark.parametrize(
    ("how", "expected"),
    [("--loop uvloop", UVLOOP), ("event_loop: asyncio", "asyncio"), ("default", UVLOOP)],
)
async def test_daemon_runs_everything_on_the_loop(tmp_path: Path, mosquitto: Mosquitto,
                                                  how: str, expected: str) -> None:
    ports = {"tcp": free_port(), "rtu": free_port(), "http": free_port()}
    flag = how.split()[1:] if how.startswith("--loop") else []
    loop_line = how if how.startswith("event_loop") else ""
    config = tmp_path / "site.yaml"
    data_dir = tmp_path / "data"

    def write(extra: bool) -> None:
        config.write_text(site_config(tmp_path, ports, mosquitto, loop_line=loop_line,
                                      extra_device=extra))

    write(True)  # the simulators serve the reload's extra device from the start
    simulated = load_config(config).config
    write(False)
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.setblocking(False)
    notes: list[str] = []
    stop_publishing = asyncio.Event()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NOTIFY_SOCKET": str(sock_path),
           "WATCHDOG_USEC": "600000"}
    async with SiteSimulation.from_config(simulated):
        publisher = asyncio.create_task(publish_dp(mosquitto, stop_publishing))
        listener = asyncio.create_task(notify_messages(sock, notes))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor.cli.main", "run", "-c", str(config),
            *(["--loop", *flag] if flag else []),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
        )
        logs = LogReader(proc)
        try:
            line = await logs.wait_for(r'msg="event loop"')
            assert f'loop="{expected}"' in line or f"loop={expected} " in line, line
            await logs.wait_for(r"msg=started", timeout=20)
            for device in ("dp-tcp", "dp-rtu-tcp", "dp-serial", "dp-mqtt"):
                await wait_good_rows(data_dir, device)
            await logs.wait_for(r"http listening")
            base = f"http://127.0.0.1:{ports['http']}"
            async with aiohttp.ClientSession() as http:
                async with http.get(base + "/readyz") as resp:
                    assert resp.status == 200, await resp.text()
                async with http.get(base + "/metrics") as resp:
                    metrics = await resp.text()
            build = next(m for m in metrics.splitlines() if m.startswith("cleanroom_build_info"))
            assert f'event_loop="{expected}"' in build, build
            assert re.search(r'^cleanroom_device_up\{[^}]*device="dp-serial"[^}]*\} 1(\.0)?$',
                             metrics, re.MULTILINE), metrics

            write(True)
            proc.send_signal(signal.SIGHUP)
            await logs.wait_for(r"msg=reloaded")
            await wait_good_rows(data_dir, "dp-new")
            assert sum("WATCHDOG=1" in n for n in notes) >= 2, notes
        finally:
            proc.send_signal(signal.SIGTERM)
            status = await asyncio.wait_for(proc.wait(), 15)
            await logs.close()
            stop_publishing.set()
            await asyncio.wait_for(publisher, 5)
            await asyncio.sleep(0.1)  # STOPPING=1 reaches the socket before the exit
            listener.cancel()
            sock.close()
    assert status == 0, "\n".join(logs.lines)
    assert any("READY=1" in n for n in notes)
    assert any("STOPPING=1" in n for n in notes)
    stopped = await logs.wait_for(r"msg=stopped")
    match = re.search(r"accepted=(\d+)", stopped)
    assert match, stopped
    assert count_rows(data_dir) == int(match.group(1))


def _blocked_uvloop(tmp_path: Path) -> dict[str, str]:
    """An environment where ``import uvloop`` fails, as on a platform without a wheel."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "uvloop.py").write_text('raise ImportError("uvloop blocked by the test")\n')
    return {**os.environ, "PYTHONPATH": f"{shadow}{os.pathsep}{REPO}"}


async def test_explicit_uvloop_that_cannot_be_imported_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(f"site: {{id: s, name: S}}\ndata_dir: {tmp_path / 'data'}\n"
                      "event_loop: uvloop\nhttp: {enabled: false}\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor.cli.main", "run", "-c", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=_blocked_uvloop(tmp_path))
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2, (out + err).decode()
    assert b"uvloop is not installed" in err
    assert b"event_loop: asyncio" in err
    assert not (tmp_path / "data" / "readings.db").exists()


async def test_auto_falls_back_to_asyncio_without_uvloop(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(f"site: {{id: s, name: S}}\ndata_dir: {tmp_path / 'data'}\n"
                      "http: {enabled: false}\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor.cli.main", "run", "-c", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**_blocked_uvloop(tmp_path), "PYTHONUNBUFFERED": "1"})
    logs = LogReader(proc)
    try:
        line = await logs.wait_for(r'msg="event loop"', timeout=20)
        assert "loop=asyncio choice=auto" in line, line
        await logs.wait_for(r"msg=started", timeout=20)
    finally:
        proc.send_signal(signal.SIGTERM)
        status = await asyncio.wait_for(proc.wait(), 15)
        await logs.close()
    assert status == 0, "\n".join(logs.lines)


def test_loop_factory_choices() -> None:
    assert eventloop.loop_factory("asyncio")[0] == "asyncio"
    assert eventloop.loop_factory("auto")[0] == UVLOOP
    name, factory = eventloop.loop_factory("uvloop")
    assert name == UVLOOP
    loop = factory()
    try:
        assert type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()
    with pytest.raises(ConfigError, match="'libev' is not one of auto, uvloop, asyncio"):
        eventloop.loop_factory("libev")


async def test_suite_runs_on_the_requested_loop(request: pytest.FixtureRequest) -> None:
    """CLEANROOM_TEST_LOOP=uvloop must really put the tests on uvloop (and the default not)."""
    from tests.conftest import requested_loop

    module = type(asyncio.get_running_loop()).__module__
    assert module.startswith("uvloop") == (requested_loop(request.config) == "uvloop"), module
