"""What systemd sees of the daemon: sd_notify datagrams and one-line structured logs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

from monitor.config import load_config
from simulators.site import SiteSimulation
from tests.fixtures.ports import free_port
from tests.service.test_lifecycle import site_config


async def test_notify_socket_gets_ready_watchdog_and_stopping(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(site_config(tmp_path / "data", free_port()))
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.setblocking(False)
    messages: list[str] = []
    loop = asyncio.get_running_loop()
    async with SiteSimulation.from_config(load_config(config).config):
        env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "400000"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor.cli.main", "run", "-c", str(config),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env=env,
        )
        try:
            async with asyncio.timeout(20):
                while sum("WATCHDOG=1" in m for m in messages) < 3:
                    messages.append((await loop.sock_recv(sock, 4096)).decode())
        finally:
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(10):
                while not any("STOPPING=1" in m for m in messages):
                    messages.append((await loop.sock_recv(sock, 4096)).decode())
            assert await asyncio.wait_for(proc.wait(), 10) == 0
            sock.close()
    ready = [m for m in messages if "READY=1" in m]
    assert ready
    assert "STATUS=monitoring" in ready[0]
    assert messages.index(ready[0]) < next(
        i for i, m in enumerate(messages) if "STOPPING=1" in m
    )


async def test_json_log_lines_are_one_json_object_each(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(site_config(tmp_path / "data", free_port()))
    async with SiteSimulation.from_config(load_config(config).config):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor.cli.main", "run", "-c", str(config),
            "--log-format", "json", stderr=asyncio.subprocess.PIPE,
        )
        await asyncio.sleep(2.0)
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 10)
    lines = [line for line in err.decode().splitlines() if line.strip()]
    docs = [json.loads(line) for line in lines]
    started = next(d for d in docs if d["msg"] == "started")
    assert started["level"] == "info"
    assert started["ts"].endswith("Z")
    assert started["devices"] == 2
    assert any(d["msg"] == "stopped" for d in docs)
