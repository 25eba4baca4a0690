"""Payload mappings and topic rules without a broker: decoding, config checks, properties."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config.devices import ChannelSpec, DeviceConfig, MqttConnection, ProfileConfig
from monitor.config.mqtt import check_topic_filter, filter_covers, parse_json_path, topic_matches
from monitor.drivers.base import DeviceBinding
from monitor.drivers.mqtt.mapping import TopicRouter, to_timestamp_ns
from monitor.errors import ConfigError
from monitor.model import Quality, Reading


def _router(*channels: dict[str, object], topic: str = "t/dev", max_payload: int = 4096
            ) -> TopicRouter:
    specs = [ChannelSpec.model_validate({"quantity": "temperature", "unit": "degC", **c})
             for c in channels]
    profile = ProfileConfig(kind="generic", family="generic", source="generic", channels=specs)
    device = DeviceConfig(name="dev", connection="b", location="l", profile="p", topic=topic)
    return TopicRouter([DeviceBinding(device, profile, tuple(specs))], max_payload)


def _decode(router: TopicRouter, topic: str, payload: bytes) -> tuple[list[Reading], object]:
    out: list[Reading] = []
    decoder = router.lookup(topic.encode())
    assert decoder is not None
    return out, decoder.decode(payload, 123, out)


@pytest.mark.parametrize(("path", "steps"), [
    ("a", ("a",)), ("$.a.b", ("a", "b")), ("a[0]", ("a", 0)),
    ("a.b[2][1].c", ("a", "b", 2, 1, "c")), ("[3]", (3,)), ("$", ()), ("x-y.z_1", ("x-y", "z_1")),
])
def test_json_paths(path: str, steps: tuple[object, ...]) -> None:
    assert parse_json_path(path) == steps


@pytest.mark.parametrize("path", ["", "a..b", "a.", "a[x]", "a[0", ".a"])
def test_bad_json_paths(path: str) -> None:
    with pytest.raises(ValueError, match="JSON path"):
        parse_json_path(path)


@pytest.mark.parametrize("topic", ["a/#/b", "a/b#", "a/+b", "", "$share/g/a", "a/{x}"])
def test_bad_topic_filters(topic: str) -> None:
    with pytest.raises(ValueError, match=r"topic|shared"):
        check_topic_filter(topic)


@pytest.mark.parametrize(("filter_", "topic", "matches"), [
    ("a/+/c", "a/b/c", True), ("a/#", "a", True), ("a/#", "a/b/c", True), ("+/b", "a/b", True),
    ("a/+", "a/b/c", False), ("#", "$SYS/x", False), ("a/b", "a/b/c", False),
])
def test_topic_matching(filter_: str, topic: str, matches: bool) -> None:
    assert topic_matches(filter_, topic) is matches


def test_filter_cover() -> None:
    assert filter_covers("a/#", "a/+/c")
    assert filter_covers("a/+/c", "a/b/c")
    assert not filter_covers("a/+/c", "a/#")
    assert not filter_covers("a/b", "a/+")


def test_router_prefers_one_parse_for_a_topic_with_many_channels() -> None:
    router = _router({"name": "t", "topic": "{topic}/s", "json_path": "v.t"},
                     {"name": "h", "topic": "{topic}/s", "json_path": "v.h"},
                     {"name": "any", "topic": "t/+/s", "json_path": "v.t"})
    out, problem = _decode(router, "t/dev/s", b'{"v": {"t": 1.5, "h": 2}}')
    assert problem is None
    assert [(r.channel, r.value) for r in out] == [("dev/t", 1.5), ("dev/h", 2.0),
                                                   ("dev/any", 1.5)]
    assert router.lookup(b"t/other/s") is not None  # wildcard channel, remembered
    assert router.lookup(b"nope") is None
    assert router.subscriptions() == ["t/+/s"]


@pytest.mark.parametrize(("value", "fmt", "expected"), [
    (1_700_000_000, "auto", 1_700_000_000 * 10**9),
    (1_700_000_000.5, "s", 1_700_000_000_500_000_000),
    (1_700_000_000_123, "auto", 1_700_000_000_123_000_000),
    (1_700_000_000_123_456, "auto", 1_700_000_000_123_456_000),
    (1_700_000_000_123_456_789, "auto", 1_700_000_000_123_456_789),
    ("2023-11-14T22:13:20Z", "auto", 1_700_000_000 * 10**9),
    ("2023-11-14T23:13:20.5+01:00", "iso8601", 1_700_000_000_500_000_000),
])
def test_timestamps(value: object, fmt: str, expected: int) -> None:
    assert to_timestamp_ns(value, fmt) == expected


@pytest.mark.parametrize(("value", "fmt"), [
    ("2023-11-14T22:13:20", "auto"), ("yesterday", "auto"), (1.5, "iso8601"), (True, "ms"),
    (-1, "s"), ("1700000000", "s"), (None, "auto"),
])
def test_bad_timestamps_are_reasons_not_exceptions(value: object, fmt: str) -> None:
    assert isinstance(to_timestamp_ns(value, fmt), str)


def test_bad_timestamp_keeps_the_value_with_daemon_time() -> None:
    router = _router({"name": "t", "topic": "{topic}", "json_path": "v", "timestamp_path": "ts"})
    out, problem = _decode(router, "t/dev", b'{"v": 20.5, "ts": "2023-11-14T22:13:20"}')
    assert problem == ("bad_timestamp", "timestamp has no time zone (write Z or +00:00)")
    assert (out[0].quality, out[0].value, out[0].device_ts_ns) == (Quality.GOOD, 20.5, None)


def test_value_map_and_sentinels() -> None:
    router = _router(
        {"name": "door", "topic": "{topic}/door", "value_map": {"OPEN": 1, "CLOSED": 0}},
        {"name": "t", "topic": "{topic}/t", "nan_values": [-9999]},
    )
    assert _decode(router, "t/dev/door", b"OPEN")[0][0].value == 1.0
    out, problem = _decode(router, "t/dev/door", b"AJAR")
    assert out[0].quality is Quality.INVALID
    assert problem == ("bad_value", "text 'AJAR' where a number was expected")
    assert _decode(router, "t/dev/t", b"-9999")[0][0].detail == "sentinel value"


@settings(max_examples=150, deadline=None)
@given(st.one_of(
    st.binary(max_size=300),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                    max_size=4),
        max_leaves=20,
    ).map(lambda doc: json.dumps({"v": doc, "ts": doc}).encode()),
))
def test_no_payload_raises_and_every_channel_gets_one_reading(payload: bytes) -> None:
    router = _router(
        {"name": "a", "topic": "{topic}", "json_path": "v", "timestamp_path": "ts",
         "unit_path": "v.u", "range": [-1e6, 1e6]},
        {"name": "b", "topic": "{topic}", "json_path": "v[0].x"},
        {"name": "c", "topic": "{topic}", "payload": "number"},
        max_payload=200,
    )
    out, problem = _decode(router, "t/dev", payload)
    assert sorted(r.channel for r in out) == ["dev/a", "dev/b", "dev/c"]
    for reading in out:
        if reading.quality is Quality.GOOD:
            assert reading.value is not None
            assert reading.value - reading.value == 0.0  # finite
        else:
            assert reading.detail
    if any(r.quality is not Quality.GOOD for r in out):
        assert problem is not None


def _site(tmp_path: Path, connection: dict[str, object], channel: dict[str, object],
          device_topic: str | None = "lab/d") -> Path:
    doc = {
        "profiles": {"p": {"kind": "generic", "family": "generic", "source": "generic",
                           "channels": [{"name": "v", "quantity": "temperature", "unit": "degC",
                                         **channel}]}},
        "connections": [{"name": "b", "driver": "mqtt", "host": "127.0.0.1", **connection}],
        "rooms": [{"name": "r", "grade": "C", "locations": [{"name": "l"}]}],
        "devices": [{"name": "d", "connection": "b", "location": "l", "profile": "p",
                     **({"topic": device_topic} if device_topic else {})}],
    }
    path = tmp_path / "site.yaml"
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path


@pytest.mark.parametrize(("connection", "channel", "device_topic", "message"), [
    ({}, {"topic": "{topic}/x", "json_path": "a..b"}, "lab/d", "bad JSON path"),
    ({}, {"topic": "a/#/b"}, "lab/d", "'#' must be a whole level"),
    ({}, {"topic": "{topic}/x"}, None, "uses {topic} but the device has no topic"),
    ({}, {}, None, "has no topic"),
    ({"subscriptions": ["other/#"]}, {"topic": "{topic}/x"}, "lab/d", "outside the connection"),
    ({"ca_file": "/x"}, {}, "lab/d", "need tls: true"),
    ({"password": "p"}, {}, "lab/d", "password needs username"),
    ({"shared_group": "a/b"}, {}, "lab/d", "shared_group"),
    ({"qos": 2}, {}, "lab/d", "qos"),
    ({"reconnect_min": "1m", "reconnect_max": "1s"}, {}, "lab/d", "reconnect_min"),
])
def test_config_errors_name_the_line(
    tmp_path: Path, connection: dict[str, object], channel: dict[str, object],
    device_topic: str | None, message: str,
) -> None:
    from monitor.config import load_config

    with pytest.raises(ConfigError) as err:
        load_config(_site(tmp_path, connection, channel, device_topic))
    assert message in str(err.value)
    assert all(p.startswith(str(tmp_path / "site.yaml") + ":") for p in err.value.problems)


def test_password_is_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MQTT_PW", "hunter2")
    conn = MqttConnection.model_validate({"name": "b", "driver": "mqtt", "host": "h",
                                          "username": "u", "password": {"env": "MQTT_PW"}})
    assert conn.password is not None
    assert conn.password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(conn)
    assert "hunter2" not in conn.model_dump_json()
