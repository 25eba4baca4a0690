"""What a loaded config keeps resident for the daemon's run (issue 8: memory at 2,000 devices)."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import ChannelInfo, load_config
from monitor.config.alarms import LimitConfig
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


def test_text_is_held_as_loaded_until_compacted(tmp_path: Path) -> None:
    """The audit trail reads the text before the first poll: compressed only after that."""
    path = write_site(tmp_path, devices=20)
    text = path.read_text(encoding="utf-8")
    loaded = load_config(path)
    assert loaded.text is loaded.text  # the string as read: no decompression per read
    loaded.compact()
    assert loaded.text == text
    assert loaded.text is not loaded.text  # from the compressed form now
    compressed = loaded.text_z
    loaded.compact()  # once only
    assert loaded.text_z is compressed


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


def _same_models(read: list[LimitConfig], written: list[LimitConfig]) -> None:
    """Equal, and alike in what equality does not compare: fields set, key order, types."""
    assert read == written
    for back, entry in zip(read, written, strict=True):
        assert type(back) is type(entry)
        assert back.model_fields_set == entry.model_fields_set
        assert list(back.__dict__) == list(entry.__dict__)
        assert repr(back.model_dump()) == repr(entry.model_dump())  # -0.0 is not 0.0
        assert [type(v) for v in back.__dict__.values()] == [
            type(v) for v in entry.__dict__.values()]
        assert back.__pydantic_extra__ is None
        assert back.__pydantic_private__ is None


def test_entries_of_every_shape_read_back_alike() -> None:
    """Rows for plain entries, the model itself for one holding models, in any mix."""
    def limit(**fields: object) -> LimitConfig:
        return LimitConfig.model_validate(fields)

    limits = {
        "a": [limit(channel="d1/t", high_alert=25.0, high_action=27.5),
              limit(channel="d1/rh", high_alert=25.0, high_action=27.5),
              limit(channel="d1/co2", high_alert=25.0, high_action=27.5, deadband=-0.0),
              limit(channel="d1/o2", high_alert=25, high_action=27.5),  # 25: a float of its own
              limit(channel="d1/dp", low_alert=12.5, low_action=10.0, priority_alert="high",
                    latch_alert=True, description="Füllraum ±0.5 Pa", on_delay="30s"),
              limit(channel="d1/p05", high_action="preset", alert_fraction=0.8),
              limit(channel="d1/p50", high_alert=20.0,
                    at_rest={"high_alert": 10.0, "high_action": None},
                    in_operation={"high_alert": 29.0}),
              limit(channel="d1/cascade", low_alert=10.0, between=("room-a", "room-b")),
              limit(channel="d1/roc", high_alert=1.0,
                    rate_of_change={"max_change": 2.0, "per": "1m", "direction": "rise"})],
        "b": [limit(channel="d2/t", high_alert=25.0, high_action=27.5)],
        "empty": [],
    }
    packed = PackedLimits(limits)
    for location, entries in limits.items():
        _same_models(packed[location], entries)
    restored = pickle.loads(pickle.dumps(packed))
    for location, entries in limits.items():
        _same_models(restored[location], entries)
    first, second = packed["a"], packed["a"]
    assert first[0] is not second[0]
    assert first[0].__dict__ is not second[0].__dict__
    # models with the same fields set share one set, as validated models do
    assert first[0].__pydantic_fields_set__ is first[1].__pydantic_fields_set__
    assert first[0].__pydantic_fields_set__ is limits["a"][0].__pydantic_fields_set__


@settings(max_examples=40, deadline=None)
@given(st.lists(st.fixed_dictionaries({}, optional={
    "high_alert": st.floats(100, 1e6), "high_action": st.floats(100, 1e6),
    "low_alert": st.floats(-1e6, 50) | st.none(),
    "deadband": st.sampled_from([0.0, -0.0]) | st.floats(0, 10),
    "consecutive": st.just(1), "window": st.integers(1, 64),
    "priority_action": st.sampled_from(["critical", "high", "medium", "low"]),
    "latch_alert": st.booleans(), "description": st.text(max_size=20),
    "between": st.tuples(st.sampled_from(["r1", "r2"]), st.sampled_from(["r3", "r4"])),
}), max_size=12))
def test_packed_entries_read_back_alike(entries: list[dict[str, object]]) -> None:
    limits = []
    for index, written in enumerate(entries):
        fields = dict(written, channel=f"d/c{index}")
        if "high_alert" in fields and "high_action" in fields:
            fields.pop("high_alert")  # their order is not what this tests
        limits.append(LimitConfig.model_validate(fields))
    packed = PackedLimits({"loc": limits})
    _same_models(packed["loc"], limits)
    _same_models(pickle.loads(pickle.dumps(packed))["loc"], limits)


def test_channels_of_a_device_share_its_part(tmp_path: Path) -> None:
    """What a device's channels have in common is held once, and read as before."""
    path = write_site(tmp_path, devices=3)
    load_config_cached(path)
    loaded, cached = load_config(path), load_config_cached(path)
    assert cached.from_cache
    assert cached.channels == loaded.channels
    for source in (loaded, cached, pickle.loads(pickle.dumps(loaded.channels))):
        channels = source if isinstance(source, dict) else source.channels
        by_device: dict[str, list[ChannelInfo]] = {}
        for cid, info in channels.items():
            assert info.id == cid
            assert cid == f"{info.device}/{info.spec.name}"
            by_device.setdefault(info.device, []).append(info)
        for infos in by_device.values():
            assert all(i.device_info is infos[0].device_info for i in infos)
    config = loaded.config
    for device in config.devices:
        room = next(r for r in config.rooms if device.location in {lo.name for lo in r.locations})
        for spec in loaded.device_channels(device):
            info = loaded.channels[f"{device.name}/{spec.name}"]
            assert (info.device, info.location, info.room, info.grade, info.standard,
                    info.site, info.poll_interval, info.spec) == (
                device.name, device.location, room.name, room.grade,
                room.standard or config.standard, config.site.id, device.poll_interval, spec)
    info = next(iter(loaded.channels.values()))
    # frozen (Python 3.11 raises TypeError for a frozen dataclass with slots, as it did before)
    with pytest.raises((AttributeError, TypeError)):
        info.location = "elsewhere"  # type: ignore[misc]
    with pytest.raises((AttributeError, TypeError)):
        info.id = "x/y"  # type: ignore[misc]
    assert info.location != "elsewhere"
