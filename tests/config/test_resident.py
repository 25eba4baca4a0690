"""What a loaded config keeps resident for the daemon's run (issue 8: memory at 2,000 devices)."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.config.cache import load_config_cached
from monitor.config.resident import PackedLimits, release_limits
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


def test_packed_limits_read_back_equal_through_every_dict_read(tmp_path: Path) -> None:
    path = write_site(tmp_path, devices=3, extra=(
        "      - {channel: dp2/dp, high_alert: 40, high_action: 50}\n"))
    loaded, reference = load_config(path), load_config(path).config.alarms.limits
    packed = release_limits(loaded)
    assert isinstance(packed, PackedLimits)
    assert release_limits(loaded) is packed  # packing twice is a no-op
    limits = loaded.config.alarms.limits
    assert limits is packed
    assert limits == reference
    assert reference == limits
    assert len(limits) == 1
    assert list(limits) == ["fill-1"]
    assert "fill-1" in limits
    assert "fill-2" not in limits
    assert limits.get("fill-2") is None
    assert limits["fill-1"] == reference["fill-1"]
    assert dict(limits.items()) == reference
    assert list(limits.values()) == list(reference.values())
    assert [lim.high_action for lim in limits["fill-1"]] == [None, 50.0]
    assert limits["fill-1"] is not limits["fill-1"]  # fresh models on every read: none kept
    assert dict(limits) == reference
    assert limits.unpack() == reference
    copied = pickle.loads(pickle.dumps(loaded.config))  # as the config cache pickles it
    assert type(copied.alarms.limits) is PackedLimits  # packed: no models built to read it
    assert copied.alarms.limits.packed_size == packed.packed_size
    assert copied == load_config(path).config
    with pytest.raises(KeyError):
        limits["fill-2"]


def test_a_config_without_limits_is_left_alone(tmp_path: Path) -> None:
    path = write_site(tmp_path)
    path.write_text(path.read_text().split("alarms:")[0])
    loaded = load_config(path)
    assert release_limits(loaded) is None
    assert loaded.config.alarms.limits == {}


def test_locations_without_state_settings_share_one(tmp_path: Path) -> None:
    path = write_site(tmp_path)
    path.write_text(path.read_text().replace(
        "      - {name: fill-1}\n",
        "      - {name: fill-1}\n      - {name: fill-2}\n"
        "      - {name: fill-3, state: {default: at_rest}}\n"))
    load_config_cached(path)
    for loaded in (load_config(path), load_config_cached(path)):
        (_, one), (_, two), (_, three) = loaded.locations.values()
        assert one.state is two.state
        assert three.state is not one.state
        assert str(three.state.default) == "at_rest"
    assert loaded.from_cache
