"""`cleanroom-monitor demo` as a new user runs it: readings and both excursion levels soon."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path


def test_demo_shows_alert_and_action_excursions_within_a_minute(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "monitor.cli.main", "demo", "--duration", "45",
         "--data-dir", str(data_dir), "--every", "10"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert re.search(r"ALARM .* raised\s+ALERT\s+fill-1\s+pc1/p0_5um:high_alert", out), out
    assert re.search(r"ALARM .* raised\s+ACTION\s+fill-1\s+pc1/p0_5um:high_action", out), out
    assert "mosquitto on 127.0.0.1" in out  # the MQTT devices take part
    # every device kind was read: Modbus TCP (pc1, dp1), RTU over TCP (th1, inc1), MQTT (inc2)
    with sqlite3.connect(data_dir / "readings.db") as conn:
        devices = {row[0] for row in conn.execute("SELECT DISTINCT device FROM series")}
        good = conn.execute("SELECT count(*) FROM readings WHERE quality = 'good'").fetchone()[0]
    assert {"pc1", "dp1", "th1", "inc1", "inc2"} <= devices
    assert good > 500
    stopped = re.search(r"demo stopped: (\d+) readings", out)
    assert stopped, out

    # the embedded store answers the query command with the demo's readings
    effective = data_dir / "demo-effective.yaml"
    query = subprocess.run(
        [sys.executable, "-m", "monitor.cli.main", "query", "-c", str(effective),
         "--location", "fill-1", "--channel", "dp1/dp", "--format", "csv"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert query.returncode == 0, query.stdout + query.stderr
    assert len(query.stdout.splitlines()) > 20
