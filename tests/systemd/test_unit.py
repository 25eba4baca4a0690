"""The shipped systemd unit: it verifies, it is hardened, and it starts the daemon we ship.

``systemd-analyze verify`` checks that ExecStart's binary exists, so the unit is
verified with the install prefix pointed at this checkout's venv; nothing else
is changed.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "cleanroom-monitor.service"
SYSUSERS = ROOT / "systemd" / "cleanroom-monitor.sysusers"
PREFIX_BIN = "/opt/cleanroom-monitor/bin/cleanroom-monitor"
MAX_EXPOSURE = 2.0


def _analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.fail("systemd-analyze not found: install Debian package 'systemd' "
                    "(scripts/install-test-deps.sh)")
    return path


def _directives(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


@pytest.fixture
def local_unit(tmp_path: Path) -> Path:
    """The unit with the install prefix replaced by this checkout's console script."""
    script = Path(sys.executable).parent / "cleanroom-monitor"
    assert script.exists(), f"{script} missing: pip install -e . first"
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace(PREFIX_BIN, str(script)))
    return unit


def test_verify_passes_without_warnings(local_unit: Path) -> None:
    result = subprocess.run([_analyze(), "verify", str(local_unit)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    own = [line for line in result.stderr.splitlines() if local_unit.name in line]
    assert own == [], own


def test_security_exposure_is_at_most_two(local_unit: Path) -> None:
    result = subprocess.run([_analyze(), "security", "--offline=true", "--no-pager",
                             str(local_unit)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert "Unknown key" not in result.stderr, result.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert match, result.stdout[-2000:]
    score = float(match.group(1))
    print(f"systemd-analyze security exposure: {score}")
    assert score <= MAX_EXPOSURE, result.stdout


def test_unit_has_the_lifecycle_the_daemon_implements() -> None:
    d = _directives(UNIT.read_text())
    assert d["Type"] == ["notify"]  # monitor.sdnotify sends READY=1 once pollers run
    assert d["Restart"] == ["on-failure"]
    watchdog = d["WatchdogSec"][0]
    assert watchdog.endswith("s")
    assert int(watchdog[:-1]) >= 10
    assert d["ExecReload"][-1] == "/bin/kill -HUP $MAINPID"
    assert d["User"] == ["cleanroom-monitor"]
    assert d["StateDirectory"] == ["cleanroom-monitor"]
    assert d["ConfigurationDirectory"] == ["cleanroom-monitor"]
    assert "dialout" in d["SupplementaryGroups"][0].split()
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
        assert d[key] == ["yes"], key
    assert d["ProtectSystem"] == ["strict"]
    assert set(d["RestrictAddressFamilies"][0].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    allowed = {v.split()[0] for v in d["DeviceAllow"]}
    assert {"char-ttyS", "char-ttyUSB"} <= allowed  # RS-485/RS-232 adapters for Modbus RTU


def test_exec_lines_parse_with_the_shipped_cli() -> None:
    """ExecStart/ExecReload arguments must be accepted by the CLI the daemon ships."""
    d = _directives(UNIT.read_text())
    parser = build_parser()
    for line in d["ExecStart"] + d["ExecReload"][:-1]:
        argv = shlex.split(line)
        assert argv[0] == PREFIX_BIN
        args = parser.parse_args(argv[1:])
        assert callable(args.func)
    start = parser.parse_args(shlex.split(d["ExecStart"][0])[1:])
    assert start.command == "run"
    assert start.config.startswith("/etc/cleanroom-monitor/")  # ConfigurationDirectory


def test_sysusers_creates_the_user_in_dialout(tmp_path: Path) -> None:
    sysusers = shutil.which("systemd-sysusers")
    if sysusers is None:
        pytest.fail("systemd-sysusers not found: install Debian package 'systemd'")
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\ndialout:x:20:\n")
    result = subprocess.run([sysusers, f"--root={tmp_path}", str(SYSUSERS)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    passwd = (etc / "passwd").read_text()
    assert re.search(r"^cleanroom-monitor:x:\d+:\d+:.*:/var/lib/cleanroom-monitor:", passwd, re.M)
    group = (etc / "group").read_text()
    assert re.search(r"^dialout:x:20:cleanroom-monitor$", group, re.M), group
