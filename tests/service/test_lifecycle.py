"""The daemon as systemd runs it: a subprocess, real simulators, signals.

SIGTERM must exit 0 within 5 s with every accepted reading on disk (counted
row by row); SIGHUP with a broken config must keep the old config running;
SIGHUP with a valid new config must switch to it.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from monitor.config import load_config
from simulators.site import SiteSimulation
from tests.fixtures.ports import free_port

REPO = Path(__file__).resolve().parents[2]


def site_config(data_dir: Path, port: int, *, extra_device: bool = False) -> str:
    devices = [
        "  - {name: dp1, connection: gw, location: fill-1, profile: dp-generic, unit_id: 1, "
        "poll_interval: 200ms}",
        "  - {name: pc1, connection: gw, location: fill-1, profile: lighthouse-remote-4ch, "
        "unit_id: 2, poll_interval: 500ms}",
    ]
    if extra_device:
        devices.append(
            "  - {name: dp2, connection: gw, location: fill-1, profile: dp-generic, unit_id: 3, "
            "poll_interval: 200ms}"
        )
    return f"""\
site: {{id: test-site, name: Test site}}
data_dir: {data_dir}
include: ["{REPO}/config/devices/*.yaml"]
http: {{enabled: false}}
connections:
  - {{name: gw, driver: modbus_tcp, host: 127.0.0.1, port: {port}, timeout: 500ms}}
rooms:
  - name: fill
    grade: B
    locations:
      - {{name: fill-1}}
devices:
{chr(10).join(devices)}
"""


async def start_daemon(config: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor.cli.main", "run", "-c", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )


class LogReader:
    """Collects the daemon's log lines while the test waits for some of them."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.lines: list[str] = []
        self._task = asyncio.create_task(self._read(proc))

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip())

    async def wait_for(self, pattern: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            for line in self.lines:
                if regex.search(line):
                    return line
            await asyncio.sleep(0.05)
        raise AssertionError(f"no log line matching {pattern!r}:\n" + "\n".join(self.lines))

    async def close(self) -> None:
        await asyncio.wait_for(self._task, 10)


def count_rows(data_dir: Path, channel_prefix: str = "", *, good: bool = False) -> int:
    """Readings on disk; ``good``: only those the simulated devices answered."""
    where = " AND r.quality = 'good'" if good else ""
    with sqlite3.connect(data_dir / "readings.db") as conn:
        row = conn.execute(
            "SELECT count(*) FROM readings r JOIN series s ON s.id = r.series "
            "WHERE s.channel LIKE ?" + where, (channel_prefix + "%",),
        ).fetchone()
    return int(row[0])


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, Path, int]:
    data_dir = tmp_path / "data"
    port = free_port()
    config = tmp_path / "site.yaml"
    config.write_text(site_config(data_dir, port))
    return config, data_dir, port


async def test_sigterm_exits_zero_with_every_accepted_reading_on_disk(
    site: tuple[Path, Path, int],
) -> None:
    config, data_dir, _port = site
    loaded = load_config(config)
    async with SiteSimulation.from_config(loaded.config):
        proc = await start_daemon(config)
        logs = LogReader(proc)
        await logs.wait_for(r"msg=started")
        await asyncio.sleep(2.5)
        stop_sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        status = await asyncio.wait_for(proc.wait(), 10)
        elapsed = time.monotonic() - stop_sent
        await logs.close()
    assert status == 0, "\n".join(logs.lines)
    assert elapsed < 5.0
    stopped = await logs.wait_for(r"msg=stopped")
    match = re.search(r"accepted=(\d+)", stopped)
    assert match, stopped
    accepted = int(match.group(1))
    assert accepted > 10  # 2.5 s of a DP at 5 Hz
    assert count_rows(data_dir) == accepted
    assert count_rows(data_dir, good=True) > 10, "the simulated devices were not polled"


async def test_sighup_with_broken_config_keeps_old_config_running(
    site: tuple[Path, Path, int],
) -> None:
    config, data_dir, _port = site
    loaded = load_config(config)
    good_text = config.read_text()
    async with SiteSimulation.from_config(loaded.config):
        proc = await start_daemon(config)
        logs = LogReader(proc)
        try:
            await logs.wait_for(r"msg=started")
            config.write_text(good_text.replace("unit_id: 1,", "unit_id: banana,"))
            proc.send_signal(signal.SIGHUP)
            await logs.wait_for(r"reload refused")
            refused = await logs.wait_for(r"config error: .*devices\[0\]\.unit_id")
            assert f"{config}:" in refused
            before = count_rows(data_dir)
            await asyncio.sleep(1.5)
            assert count_rows(data_dir) > before, "old config stopped polling"
            assert count_rows(data_dir, good=True) > 0, "the simulated devices were not polled"
            assert proc.returncode is None
        finally:
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 10) == 0
            await logs.close()


async def test_sighup_with_valid_config_switches_to_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    config = tmp_path / "site.yaml"
    config.write_text(site_config(data_dir, port, extra_device=True))
    loaded_with_dp2 = load_config(config)
    config.write_text(site_config(data_dir, port))
    async with SiteSimulation.from_config(loaded_with_dp2.config):
        proc = await start_daemon(config)
        logs = LogReader(proc)
        try:
            await logs.wait_for(r"msg=started")
            await asyncio.sleep(0.5)
            assert count_rows(data_dir, "dp2/") == 0
            config.write_text(site_config(data_dir, port, extra_device=True))
            proc.send_signal(signal.SIGHUP)
            await logs.wait_for(r"msg=reloaded")
            await asyncio.sleep(1.5)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 10) == 0
            await logs.close()
    assert count_rows(data_dir, "dp2/", good=True) > 0
