"""Faults of the daemon process itself: SIGKILL and restart, SIGHUP with a broken config.

SIGKILL runs the real command (``cleanroom-monitor run -c FILE``) in a child
process: everything it had committed must survive intact (the database
passes ``PRAGMA integrity_check``) and the restarted daemon goes on storing
into the same database and stops cleanly. SIGHUP is sent to
the process the service runs in: a broken config is refused, counted in
``cleanroom_config_reloads_total{result="failure"}`` and the old config keeps
polling without a missed reading; a good config afterwards is taken.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from bench.common import ROOT, free_ports
from bench.store_count import count_readings
from tests.faults.harness import (
    assert_nothing_lost,
    fault_site,
    running_farm,
    start_daemon,
    wait_for,
    write,
)


def _db(data_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{data_dir / 'readings.db'}?mode=ro", uri=True, timeout=10)


def integrity(data_dir: Path) -> str:
    conn = _db(data_dir)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def last_ts(data_dir: Path) -> int:
    conn = _db(data_dir)
    try:
        return int(conn.execute("SELECT max(ts_ns) FROM readings").fetchone()[0] or 0)
    finally:
        conn.close()


def spawn(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "monitor.cli.main", "run", "-c",
                                 str(config)], cwd=ROOT, env=env, stdout=out, stderr=out)


async def grows(data_dir: Path, above: int, timeout: float, proc: subprocess.Popen[bytes],
                log: Path) -> int:
    """Wait until the store holds more than ``above`` readings; return the count."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited {proc.returncode}: {tail(log)}")
        count = await asyncio.to_thread(count_readings, data_dir)
        if count > above:
            return count
        await asyncio.sleep(0.1)
    raise AssertionError(f"store did not grow past {above}: {tail(log)}")


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


async def test_sigkill_keeps_every_committed_reading(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    data_dir = tmp_path / "data"
    config = write(tmp_path / "site.yaml", fault_site(data_dir, [port]))
    log = tmp_path / "daemon.log"
    async with running_farm([port]):
        proc = spawn(config, log)
        try:
            await grows(data_dir, 400, 30, proc, log)
            committed = await asyncio.to_thread(count_readings, data_dir)
            newest = await asyncio.to_thread(last_ts, data_dir)
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait, 10)
            assert proc.returncode == -signal.SIGKILL
            assert await asyncio.to_thread(integrity, data_dir) == "ok"
            after_kill = await asyncio.to_thread(count_readings, data_dir)
            assert after_kill >= committed, "committed readings vanished after SIGKILL"

            proc = spawn(config, log)
            await grows(data_dir, after_kill + 200, 30, proc, log)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, 15) == 0, tail(log)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert integrity(data_dir) == "ok"
    assert count_readings(data_dir, None, newest + 1) >= committed
    # A crash is recorded as a gap however short it was: QA must see it happened.
    with sqlite3.connect(data_dir / "readings.db") as conn:
        causes = [row[0] for row in conn.execute("SELECT cause FROM gaps WHERE scope='daemon'")]
    assert causes == ["daemon_crashed"]


async def test_sighup_with_broken_config_keeps_the_old_config(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    data_dir = tmp_path / "data"
    site = fault_site(data_dir, [port])
    config = write(tmp_path / "site.yaml", site)
    good_text = config.read_text()
    async with running_farm([port]):
        daemon = await start_daemon(config)
        try:
            runtime = daemon.runtime
            config.write_text(good_text.replace('"rooms": [', '"rooms": [{"name": ', 1))
            os.kill(os.getpid(), signal.SIGHUP)
            await wait_for(lambda: daemon.service.reloads_failed == 1, 10, "reload refused",
                           task=daemon.task)
            assert daemon.metric("cleanroom_config_reloads_total", result="failure") == 1
            assert daemon.service.runtime is runtime, "the old runtime was replaced"
            before = daemon.accepted
            await asyncio.sleep(1.0)
            # 4 devices x 10 channels at 5 polls/s: the old config is still polling
            assert daemon.accepted - before >= 0.8 * 200

            site["devices"][0]["poll_interval"] = "400ms"  # a valid change is taken
            write(config, site)
            os.kill(os.getpid(), signal.SIGHUP)
            await wait_for(lambda: daemon.service.reloads_ok == 1, 10, "reload accepted",
                           task=daemon.task)
            before = daemon.accepted
            await wait_for(lambda: daemon.accepted > before + 100, 10, "polling after reload",
                           task=daemon.task)
        finally:
            await daemon.stop()
    assert_nothing_lost(daemon, data_dir)
