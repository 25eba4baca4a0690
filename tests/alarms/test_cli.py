"""``alarms`` and ``state`` commands: directly on the log, and through a running daemon."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.alarms.service import AlarmService, build_alarm_service
from monitor.cli.main import main
from monitor.config import LoadedConfig
from monitor.model import Quality, Reading, utc_now_ns

from .site import limits, site

S = 1_000_000_000


def config(tmp_path: Path, **extra: object) -> LoadedConfig:
    return site(tmp_path, alarms=limits(
        {"channel": "pc1/p05", "high_action": "preset"},
        {"channel": "th1/t", "high_alert": 25.0}, **extra))


def raise_alarms(loaded: LoadedConfig) -> None:
    service = build_alarm_service(loaded)
    try:
        now = utc_now_ns()
        service.evaluate([Reading("pc1/p05", 400_000.0, Quality.GOOD, now),
                          Reading("th1/t", 30.0, Quality.GOOD, now)])
    finally:
        service.close()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(list(argv))
    out = capsys.readouterr()
    return status, out.out + out.err


def test_list_without_a_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loaded = config(tmp_path)
    assert run(capsys, "alarms", "list", "-c", str(loaded.path)) == (
        0, "no alarm event log yet: no alarms\n")


def test_list_ack_shelve_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loaded = config(tmp_path)
    raise_alarms(loaded)
    c = str(loaded.path)
    status, out = run(capsys, "alarms", "list", "-c", c)
    assert status == 0
    assert "pc1/p05:high_action" in out
    assert "th1/t:high_alert" in out
    status, out = run(capsys, "alarms", "ack", "th1/t:high_alert", "-c", c, "--user", "ann",
                      "--reason", "checked the probe")
    assert (status, out.strip()) == (0, "acknowledged: alarm 2 -> active_ack (event 4)")
    status, out = run(capsys, "alarms", "shelve", "1", "-c", c, "--user", "eng", "--reason",
                      "counter under maintenance", "--for", "2h")
    assert status == 0
    assert "shelved: alarm 1" in out
    status, out = run(capsys, "alarms", "shelve", "1", "-c", c, "--user", "eng", "--reason",
                      "too long", "--for", "13h")
    assert status == 1
    assert "limited to 12 h" in out
    status, out = run(capsys, "alarms", "list", "-c", c, "--json")
    assert '"mode": "shelved"' in out
    assert run(capsys, "alarms", "unshelve", "1", "-c", c, "--user", "eng",
               "--reason", "done")[0] == 0
    status, out = run(capsys, "alarms", "verify", "-c", c)
    assert status == 0
    assert "intact" in out


def test_ack_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loaded = config(tmp_path)
    raise_alarms(loaded)
    c = str(loaded.path)
    status, out = run(capsys, "alarms", "ack", "99", "-c", c, "--user", "a", "--reason", "r")
    assert (status, "no open alarm 99" in out) == (1, True)
    status, out = run(capsys, "alarms", "ack", "2", "-c", c, "--user", "a", "--reason", " ")
    assert (status, "a reason is required" in out) == (1, True)
    with pytest.raises(SystemExit):
        main(["alarms", "ack", "2", "-c", c, "--user", "a"])  # --reason is mandatory


def test_action_ack_asks_for_a_signature(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = config(tmp_path)
    raise_alarms(loaded)
    monkeypatch.setattr(sys, "stdin", io.StringIO("not-the-password\n"))
    status, out = run(capsys, "alarms", "ack", "1", "-c", str(loaded.path), "--user", "ann",
                      "--reason", "seen", "--password-stdin")
    assert status == 1
    assert "refused" in out


def test_state_show_and_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loaded = config(tmp_path)
    c = str(loaded.path)
    assert "fill-1: in_operation (default; daemon never started)" in run(
        capsys, "state", "show", "-c", c)[1]
    status, out = run(capsys, "state", "set", "fill-1", "at_rest", "-c", c, "--user", "qa",
                      "--reason", "sanitisation", "--for", "1h")
    assert status == 0
    assert "location_state: location:fill-1 -> at_rest" in out
    assert "fill-1: at_rest (manual until" in run(capsys, "state", "show", "-c", c)[1]
    assert run(capsys, "state", "set", "fill-1", "auto", "-c", c, "--user", "qa",
               "--reason", "done")[0] == 0
    assert "fill-1: in_operation (default)" in run(capsys, "state", "show", "-c", c)[1]


def test_maintenance_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loaded = config(tmp_path)
    c = str(loaded.path)
    status, out = run(capsys, "alarms", "maintenance", "th1", "on", "-c", c, "--user", "eng",
                      "--reason", "probe swap", "--until", "2099-01-01T00:00Z")
    assert status == 0
    assert "maintenance: maintenance:th1" in out
    assert run(capsys, "alarms", "maintenance", "nowhere", "on", "-c", c, "--user", "eng",
               "--reason", "x")[0] == 1


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[LoadedConfig, AlarmService]]:
    """The alarm service as the daemon runs it: holding the log, ticking every 0.1 s."""
    loaded = config(tmp_path, require_signature_for_action=False)
    service = build_alarm_service(loaded)
    now = utc_now_ns()
    service.evaluate([Reading("pc1/p05", 400_000.0, Quality.GOOD, now)])
    stop = threading.Event()

    def ticking() -> None:
        while not stop.is_set():
            service.tick(utc_now_ns())
            time.sleep(0.1)

    thread = threading.Thread(target=ticking, daemon=True)
    thread.start()
    yield loaded, service
    stop.set()
    thread.join()
    service.close()


# Only this command group (the full CLI imports every group, plotting included: slow to start).
ALARM_CLI = """
import argparse, sys
from monitor.cli import alarms
parser = argparse.ArgumentParser(prog="cleanroom-monitor")
alarms.register(parser.add_subparsers(required=True))
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    """A second process, as an operator's shell would be."""
    return subprocess.run([sys.executable, "-c", ALARM_CLI, *argv], capture_output=True,
                          text=True, timeout=60, check=False)


def test_requests_go_through_the_running_daemon(
        daemon: tuple[LoadedConfig, AlarmService]) -> None:
    loaded, service = daemon
    c = str(loaded.path)
    done = cli("alarms", "ack", "1", "-c", c, "--user", "ann", "--reason", "seen at console")
    assert done.returncode == 0, done.stderr
    assert "acknowledged: alarm 1 -> active_ack" in done.stdout
    assert service.active()[0].state == "active_ack"  # the daemon's own state changed
    refused = cli("alarms", "ack", "1", "-c", c, "--user", "ann", "--reason", "again")
    assert refused.returncode == 1
    assert "nothing to acknowledge" in refused.stderr
    state = cli("state", "set", "fill-1", "at_rest", "-c", c, "--user", "qa", "--reason", "r")
    assert state.returncode == 0, state.stderr
    assert service.engine.t.locations["fill-1"].state == "at_rest"
    assert service.verify() is None
