"""What a loaded config keeps resident for the daemon's run (issue 8: memory at 2,000 devices)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.config.cache import load_config_cached
from monitor.drivers import BUILTIN, DRIVERS, load_drivers

from .test_cache import write_site


@pytest.fixture(autouse=True)
def _secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_CACHE_INFLUX_PW", "not-a-real-password")


def test_text_is_given_back_exactly_and_held_compressed(tmp_path: Path) -> None:
    path = write_site(tmp_path, devices=200, extra="# Reinraum Füllung, ±0.5 Pa\n")
    text = path.read_text(encoding="utf-8")
    loaded = load_config(path)
    assert loaded.text == text
    assert len(loaded.text_z) < len(text.encode()) / 5
    assert "text_z" not in repr(loaded)
    cached = load_config_cached(path)
    assert load_config_cached(path).from_cache
    assert load_config_cached(path).text == cached.text == text


def test_every_builtin_kind_registers_its_driver() -> None:
    load_drivers(BUILTIN)
    assert set(BUILTIN) <= DRIVERS.keys()
    load_drivers(["no-such-kind"])  # left for the DRIVERS lookup to report
    assert "no-such-kind" not in DRIVERS


def test_a_modbus_site_does_not_import_the_mqtt_client(tmp_path: Path) -> None:
    """aiomqtt and paho are ~4 MB resident: imported only for MQTT connections."""
    path = write_site(tmp_path, devices=2)
    code = (
        "import sys\n"
        "from monitor.config import load_config\n"
        "from monitor.runtime import build_runtime\n"
        f"runtime = build_runtime(load_config({str(path)!r}), with_http=True)\n"
        "assert len(runtime.drivers) == 1, runtime.drivers\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'aiomqtt', 'paho', 'pymodbus'}))\n"
    )
    env = {"TEST_CACHE_INFLUX_PW": "x", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['pymodbus']"


def test_equal_numbers_of_the_file_share_one_object(tmp_path: Path) -> None:
    """20,000 limits of ``low_alert: 12`` hold one float, after a load and from the cache."""
    path = write_site(tmp_path, devices=3, extra=(
        "      - {channel: dp2/dp, low_alert: 12.0, low_action: 10.5}\n"
        "      - {channel: dp3/dp, low_alert: 12.0, low_action: 10.5}\n"))
    load_config_cached(path)
    for loaded in (load_config(path), load_config_cached(path)):
        limits = loaded.config.alarms.limits["fill-1"]
        assert [lim.low_action for lim in limits] == [10.0, 10.5, 10.5]
        assert limits[1].low_action is limits[2].low_action
        assert limits[1].low_alert is limits[2].low_alert
    assert loaded.from_cache
