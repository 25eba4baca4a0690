"""Restart in the middle of an alarm (issue 5: "Done when").

The daemon runs as systemd runs it: a subprocess polling a simulated DP
transmitter held below its action limit. With the action alarm active and
unacknowledged it is killed (SIGKILL: no chance to flush or close anything)
and started again, then stopped cleanly (SIGTERM) and started again. Each
time the alarm must come back active-unacknowledged under the same id, the
still-violating samples must raise no second ``raised`` event, and the
running daemon must know the alarm by that id: an operator's signed
acknowledgement from the CLI, handed to the daemon, moves it to
active-acknowledged.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

from monitor.alarms.events import AlarmEvent
from monitor.alarms.service import build_alarm_service
from monitor.audit import AuditTrail
from monitor.config import LoadedConfig, load_config
from monitor.errors import StoreError
from monitor.model import utc_now_ns
from monitor.users.store import UserStore
from simulators.site import SiteSimulation
from tests.fixtures.ports import free_port
from tests.service.test_lifecycle import LogReader, start_daemon

ROOT = Path(__file__).resolve().parents[2]
POINT = "dp1/dp:low_action"
ALERT = "dp1/dp:low_alert"  # raised with it: 5 Pa is below both limits
PASSWORD = "Gowning-Room-7"


def site_config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(f"""\
site: {{id: restart-site, name: Restart test}}
data_dir: {tmp_path / "data"}
include: ["{ROOT}/config/devices/*.yaml"]
http: {{enabled: false}}
connections:
  - {{name: gw, driver: modbus_tcp, host: 127.0.0.1, port: {port}, timeout: 500ms}}
rooms:
  - {{name: fill, grade: B, locations: [{{name: fill-1}}]}}
devices:
  - {{name: dp1, connection: gw, location: fill-1, profile: dp-generic, unit_id: 1,
     poll_interval: 200ms}}
alarms:
  limits:
    fill-1:
      - {{channel: dp1/dp, low_alert: 12, low_action: 10, priority_action: critical}}
  clock: {{ntp: "off"}}
""")
    return path


def point_events(loaded: LoadedConfig) -> list[AlarmEvent]:
    """The DP's alarm events as the log on disk holds them (read-only, beside the daemon)."""
    if not (Path(loaded.config.data_dir) / "alarms.db").exists():
        return []  # the daemon has not started yet
    try:
        reader = build_alarm_service(loaded, readonly=True)
    except StoreError:
        return []  # the daemon has created the file but not yet its tables
    try:
        assert reader.verify() is None
        return [e for e in reader.events() if e.point in (POINT, ALERT)]
    finally:
        reader.close()


def low_samples_since(data_dir: Path, since_ns: int) -> int:
    with sqlite3.connect(data_dir / "readings.db") as conn:
        row = conn.execute(
            "SELECT count(*) FROM readings r JOIN series s ON s.id = r.series "
            "WHERE s.channel = 'dp1/dp' AND r.quality = 'good' AND r.value < 10 "
            "AND r.ts_ns > ?", (since_ns,)).fetchone()
    return int(row[0])


async def wait_for(check: Any, what: str, timeout: float = 15.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await asyncio.to_thread(check)
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def restarted(config: Path, loaded: LoadedConfig, alarm_id: int) -> tuple[Any, LogReader]:
    """Start the daemon; check it took the open alarm back and raised nothing new."""
    data_dir = Path(loaded.config.data_dir)
    before = point_events(loaded)
    started = utc_now_ns()
    proc = await start_daemon(config)
    logs = LogReader(proc)
    ready = await logs.wait_for(r"msg=\"alarm engine ready\"")
    assert "open_alarms=2" in ready, ready
    await logs.wait_for(r"msg=started")
    # the transmitter still reads 5 Pa: let the daemon evaluate a good number of such samples
    await wait_for(lambda: low_samples_since(data_dir, started) >= 10, "violating samples")
    after = point_events(loaded)
    assert after == before, "the restarted daemon wrote events for the open alarm"
    assert sorted(str(e.point) for e in after if e.kind == "raised") == sorted([POINT, ALERT])
    last = [e for e in after if e.point == POINT][-1]
    assert (last.alarm_id, last.state) == (alarm_id, "active_unack")
    return proc, logs


async def test_open_alarm_survives_sigkill_and_sigterm(tmp_path: Path) -> None:
    config = site_config(tmp_path, free_port())
    loaded = load_config(config)
    data_dir = tmp_path / "data"
    with AuditTrail(data_dir) as audit, UserStore(data_dir, audit) as users:
        users.add("os:test", "olivia", "Olivia Operator", ["operator"], PASSWORD,
                  must_change=False)
    async with SiteSimulation.from_config(loaded.config) as sim:
        sim.model("dp1").force("differential_pressure", 5.0)  # below the 10 Pa action limit
        proc = await start_daemon(config)
        logs = LogReader(proc)
        try:
            raised = await wait_for(
                lambda: [e for e in point_events(loaded)
                         if e.kind == "raised" and e.point == POINT], "the alarm")
            alarm_id = raised[0].alarm_id
            assert alarm_id is not None
            assert raised[0].state == "active_unack"

            proc.send_signal(signal.SIGKILL)
            assert await asyncio.wait_for(proc.wait(), 10) == -signal.SIGKILL
            await logs.close()
            proc, logs = await restarted(config, loaded, alarm_id)

            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 10) == 0
            await logs.close()
            assert any("msg=stopped" in line for line in logs.lines)
            proc, logs = await restarted(config, loaded, alarm_id)

            # the running daemon knows the alarm by its id: a signed CLI acknowledgement
            ack = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "monitor.cli.main", "alarms", "ack", str(alarm_id),
                "-c", str(config), "--user", "olivia", "--reason", "door seal checked",
                "--password-stdin", stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
            out, _ = await asyncio.wait_for(ack.communicate(f"{PASSWORD}\n".encode()), 30)
            assert ack.returncode == 0, out.decode()
            acked = [e for e in point_events(loaded) if e.point == POINT][-1]
            assert (acked.kind, acked.alarm_id, acked.state, acked.user) == (
                "acknowledged", alarm_id, "active_ack", "olivia")
            assert acked.details is not None
            assert acked.details["signature"]["printed_name"] == "Olivia Operator"
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), 10)
            await logs.close()
    kinds = [(e.kind, e.point) for e in point_events(loaded)]
    assert kinds.count(("raised", POINT)) == 1
    assert kinds.count(("raised", ALERT)) == 1
