"""``cleanroom-monitor query`` reads back what the store wrote: raw, downsampled, CSV, gaps."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from monitor.cli.main import main
from monitor.config import load_config
from monitor.model import Quality, Reading
from monitor.storage.factory import build_stores

CONFIG = """\
site: {{id: plant-a, name: Plant A}}
data_dir: {data_dir}
profiles:
  dp-generic:
    kind: differential_pressure
    family: generic
    source: generic
    channels:
      - {{name: dp, quantity: differential_pressure, unit: Pa, address: 0, type: s16, scale: 0.1}}
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
"""
NS = 10**9
T0 = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z


@pytest.fixture
async def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "cleanroom-monitor.yaml"
    path.write_text(CONFIG.format(data_dir=tmp_path / "data"))
    loaded = load_config(path)
    (store,) = build_stores(loaded)
    store.append([Reading("dp1/dp", 10.0 + i, Quality.GOOD, T0 + i * 10 * NS) for i in range(12)])
    store.append([Reading("dp1/dp", None, Quality.COMM_ERROR, T0 + 120 * NS, detail="timeout")])
    store.append([Reading("dp1/dp", 15.5, Quality.GOOD, T0 + 150 * NS)])
    await store.close()
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["query", *args])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_raw_csv_has_every_reading_with_location_unit_state_and_the_gap(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _run(
        capsys, "--config", str(config_path), "--location", "fill-1", "--channel", "dp",
        "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T01:00:00", "--format", "csv",
    )
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    data = [r for r in rows if r["quality"] != "gap"]
    gaps = [r for r in rows if r["quality"] == "gap"]
    assert len(data) == 14
    assert data[0] == {
        "time_utc": "2026-01-01T00:00:00.000Z", "channel": "dp1/dp", "location": "fill-1",
        "value": "10", "unit": "Pa", "raw": "", "quality": "good", "state": "in_operation",
        "device_time_utc": "", "detail": "",
    }
    assert data[12]["quality"] == "comm_error"
    assert len(gaps) == 1
    assert gaps[0]["time_utc"] == "2026-01-01T00:02:00.000Z"
    assert "device_offline until 2026-01-01T00:02:30.000Z" in gaps[0]["detail"]


def test_downsampled_table_shows_min_max_mean_per_minute(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _run(
        capsys, "-c", str(config_path), "--channel", "dp1/dp", "--from", "2026-01-01T00:00Z",
        "--to", "2026-01-01T00:10Z", "--every", "1m",
    )
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "time_utc", "channel", "location", "count", "good", "min", "max", "mean", "unit",
        "detail",
    ]
    first = lines[1].split()
    assert first[:8] == ["2026-01-01T00:00:00.000Z", "dp1/dp", "fill-1", "6", "6", "10", "15",
                         "12.5"]
    third = next(
        line for line in lines if line.split()[:2] == ["2026-01-01T00:02:00.000Z", "dp1/dp"]
    )
    assert third.split()[3:8] == ["2", "1", "15.5", "15.5", "15.5"]
    assert "3 buckets, 1 gap(s)" in out


def test_unknown_channel_and_bad_times_are_reported(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = _run(capsys, "-c", str(config_path), "--channel", "nope/x")
    assert status == 1
    assert "no stored channel matches channel 'nope/x'" in err
    status, _, err = _run(capsys, "-c", str(config_path), "--channel", "dp", "--from", "yesterday")
    assert status == 2
    assert "not an ISO 8601 time" in err
