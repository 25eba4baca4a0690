"""The validated-config cache: hits only for unchanged files, never holds a secret."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.config.cache import (
    MAGIC,
    cache_path,
    guess_data_dir,
    load_config_cached,
    save_cache,
)
from monitor.config.loader import LoadedConfig
from monitor.errors import ConfigError

SECRET = "s3cr3t-Vv9-never-on-disk"

MAIN = """\
site: {{id: plant-a, name: Plant A}}
data_dir: {data_dir}
include: ["profiles/*.yaml"]
connections:
  - {{name: gw, driver: modbus_tcp, host: 127.0.0.1, port: 5020}}
rooms:
  - name: fill
    grade: B
    locations:
      - {{name: fill-1}}
devices:
{devices}
storage:
  sinks:
    - {{name: central, type: influxdb_v1, url: "http://127.0.0.1:8086", username: mon,
       password: {{env: TEST_CACHE_INFLUX_PW}}}}
alarms:
  limits:
    fill-1:
      - {{channel: dp1/dp, low_alert: 12, low_action: 10}}
"""

PROFILE = """\
profiles:
  dp-generic:
    kind: differential_pressure
    family: generic
    source: generic
    channels:
      - {name: dp, quantity: differential_pressure, unit: Pa, address: 0, type: s16, scale: 0.1}
"""

DEVICE = ("  - {{name: dp{n}, connection: gw, location: fill-1, profile: dp-generic, "
          "unit_id: {n}, poll_interval: 1s}}")


def write_site(tmp_path: Path, devices: int = 1, extra: str = "") -> Path:
    (tmp_path / "profiles").mkdir(exist_ok=True)
    (tmp_path / "profiles" / "dp.yaml").write_text(PROFILE)
    lines = "\n".join(DEVICE.format(n=n) for n in range(1, devices + 1))
    path = tmp_path / "site.yaml"
    path.write_text(MAIN.format(data_dir=tmp_path / "data", devices=lines) + extra)
    return path


@pytest.fixture(autouse=True)
def _secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_CACHE_INFLUX_PW", SECRET)


def test_second_load_is_a_hit_equal_to_a_full_load(tmp_path: Path) -> None:
    path = write_site(tmp_path, devices=3)
    first = load_config_cached(path)
    assert not first.from_cache
    file = cache_path(tmp_path / "data")
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    second = load_config_cached(path)
    assert second.from_cache
    full = load_config(path)
    assert second.config == full.config
    assert second.channels == full.channels
    assert second.locations == full.locations
    assert (second.sha256, second.text, second.path) == (full.sha256, full.text, full.path)
    assert second.config.storage.sinks[0].password.get_secret_value() == SECRET


def test_a_change_of_the_main_file_is_a_miss(tmp_path: Path) -> None:
    path = write_site(tmp_path, devices=1)
    load_config_cached(path)
    write_site(tmp_path, devices=2)
    loaded = load_config_cached(path)
    assert not loaded.from_cache
    assert len(loaded.config.devices) == 2
    assert load_config_cached(path).from_cache  # rewritten for the new content


def test_a_changed_or_added_include_is_a_miss(tmp_path: Path) -> None:
    path = write_site(tmp_path)
    load_config_cached(path)
    include = tmp_path / "profiles" / "dp.yaml"
    include.write_text(PROFILE.replace("scale: 0.1", "scale: 0.01"))
    changed = load_config_cached(path)
    assert not changed.from_cache
    assert changed.config.profiles["dp-generic"].channels[0].scale == 0.01
    assert load_config_cached(path).from_cache
    (tmp_path / "profiles" / "more.yaml").write_text(PROFILE.replace("dp-generic", "dp-other"))
    added = load_config_cached(path)
    assert not added.from_cache
    assert "dp-other" in added.config.profiles
    (tmp_path / "profiles" / "more.yaml").unlink()
    assert not load_config_cached(path).from_cache


def test_secrets_are_kept_as_references_and_resolved_on_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_site(tmp_path)
    load_config_cached(path)
    raw = cache_path(tmp_path / "data").read_bytes()
    assert SECRET.encode() not in raw
    assert b"TEST_CACHE_INFLUX_PW" in raw  # the reference is what is kept
    monkeypatch.setenv("TEST_CACHE_INFLUX_PW", "rotated-Zz1")
    rotated = load_config_cached(path)
    assert rotated.from_cache
    assert rotated.config.storage.sinks[0].password.get_secret_value() == "rotated-Zz1"
    monkeypatch.delenv("TEST_CACHE_INFLUX_PW")
    with pytest.raises(ConfigError) as caught:  # the miss validates in full and says why
        load_config_cached(path)
    assert any("TEST_CACHE_INFLUX_PW is not set" in p for p in caught.value.problems)


def test_a_file_secret_is_not_written_either(tmp_path: Path) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text("file-secret-Qq7\n")
    path = write_site(tmp_path)
    text = path.read_text().replace("{env: TEST_CACHE_INFLUX_PW}", f"{{file: {secret_file}}}")
    path.write_text(text)
    load_config_cached(path)
    assert b"file-secret-Qq7" not in cache_path(tmp_path / "data").read_bytes()
    secret_file.write_text("new-file-secret\n")
    loaded = load_config_cached(path)
    assert loaded.from_cache
    assert loaded.config.storage.sinks[0].password.get_secret_value() == "new-file-secret"


def test_a_config_with_a_literal_secret_is_not_cached(tmp_path: Path) -> None:
    path = write_site(tmp_path)
    path.write_text(path.read_text().replace("{env: TEST_CACHE_INFLUX_PW}", SECRET))
    loaded = load_config_cached(path)
    assert not save_cache(loaded)
    assert not cache_path(tmp_path / "data").exists()
    assert not load_config_cached(path).from_cache


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "header-only"])
def test_a_corrupt_cache_is_ignored_and_rebuilt(tmp_path: Path, damage: str) -> None:
    path = write_site(tmp_path)
    load_config_cached(path)
    file = cache_path(tmp_path / "data")
    raw = file.read_bytes()
    broken = {"garbage": os.urandom(4096), "truncated": raw[: len(raw) // 2], "empty": b"",
              "header-only": raw[: raw.index(b"\n", len(MAGIC)) + 1]}[damage]
    file.write_bytes(broken)
    loaded = load_config_cached(path)
    assert not loaded.from_cache
    assert loaded.config == load_config(path).config
    assert load_config_cached(path).from_cache


def test_a_stale_key_or_a_writable_file_is_not_read(tmp_path: Path) -> None:
    path = write_site(tmp_path)
    load_config_cached(path)
    file = cache_path(tmp_path / "data")
    raw = file.read_bytes()
    first, second, payload = raw.split(b"\n", 2)
    header = json.loads(second)
    header["key"]["pydantic"] = "0.0.0"  # written by another version
    file.write_bytes(first + b"\n" + json.dumps(header).encode() + b"\n" + payload)
    assert not load_config_cached(path, save=False).from_cache
    file.write_bytes(raw)
    assert load_config_cached(path, save=False).from_cache
    file.chmod(0o666)  # anyone could have written it: never unpickled
    assert not load_config_cached(path, save=False).from_cache


def tampered_cache(tmp_path: Path) -> Path:
    """A cache that names site.yaml's digest but holds another config (3 devices, not 1)."""
    path = write_site(tmp_path, devices=3)
    other = load_config(path)
    path = write_site(tmp_path, devices=1)
    real = load_config(path)
    save_cache(LoadedConfig(other.config, real.path, real.sha256, real.text, other.channels,
                            other.locations))
    return path


def test_check_config_never_reads_the_cache(tmp_path: Path) -> None:
    path = tampered_cache(tmp_path)
    assert len(load_config_cached(path).config.devices) == 3  # the cache is read by `run`
    result = subprocess.run(
        [sys.executable, "-m", "monitor.cli.main", "check-config", str(path)],
        capture_output=True, text=True, check=False,
        env={**os.environ, "TEST_CACHE_INFLUX_PW": SECRET},
    )
    assert result.returncode == 0, result.stderr
    assert "1 devices" in result.stdout


def test_the_service_starts_from_the_cache(tmp_path: Path) -> None:
    from monitor.service import Service

    path = write_site(tmp_path)
    assert not Service(path, with_http=False).loaded.from_cache  # nothing cached yet
    save_cache(load_config(path))
    assert Service(path, with_http=False).loaded.from_cache


@pytest.mark.parametrize(("text", "expected"), [
    ("data_dir: /var/lib/x\n", "/var/lib/x"),
    ("data_dir: '/srv/a b'  # comment\n", "/srv/a b"),
    ('data_dir: "/srv/q"\n', "/srv/q"),
    ("data_dir: /srv/c # comment\n", "/srv/c"),
    ('{\n "site": {},\n "data_dir": "/tmp/bench/data",\n "x": 1\n}\n', "/tmp/bench/data"),
    ("site: {id: a}\n", "/var/lib/cleanroom-monitor"),
    ("data_dir: &anchor /x\n", None),
])
def test_guess_data_dir(text: str, expected: str | None) -> None:
    assert guess_data_dir(text) == expected
