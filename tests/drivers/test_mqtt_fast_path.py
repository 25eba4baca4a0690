"""The MQTT driver's fast paths give exactly what the full checks give.

orjson parses, the standard library decides what orjson refuses; a finite
float under one top-level key skips the full checks; one read's PUBACKs go
out as one write (and reach the broker). Each is compared here with the slower
path it replaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiomqtt
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.mqtt_decode import stream
from monitor.config.devices import ChannelSpec, DeviceConfig, ProfileConfig
from monitor.drivers.base import DeviceBinding
from monitor.drivers.mqtt import client, mapping
from monitor.drivers.mqtt.mapping import TopicRouter
from monitor.model import Quality, Reading
from simulators.mqtt import flood
from tests.drivers.mqttkit import profile, running, site_config
from tests.fixtures.mosquitto import Mosquitto

TS = "ts"
CHANNELS = (
    {"name": "fast", "json_path": "a", "timestamp_path": TS, "range": [-1e9, 1e9]},
    {"name": "nested", "json_path": "w.a", "timestamp_path": TS, "range": [-1e9, 1e9]},
    {"name": "sentinel", "json_path": "$.a", "timestamp_path": TS, "range": [-1e9, 1e9],
     "nan_values": [-12345]},
    {"name": "scaled", "json_path": "a", "scale": 0.1, "offset": 2.0, "range": [-50, 50]},
)


def _router() -> TopicRouter:
    specs = [ChannelSpec.model_validate({"quantity": "temperature", "unit": "degC",
                                         "topic": "{topic}", **c}) for c in CHANNELS]
    profile = ProfileConfig(kind="generic", family="generic", source="generic", channels=specs)
    device = DeviceConfig(name="dev", connection="b", location="l", profile="p", topic="t/dev")
    return TopicRouter([DeviceBinding(device, profile, tuple(specs))], 65536)


ROUTER = _router()


def _decode(payload: bytes) -> tuple[list[Reading], object]:
    out: list[Reading] = []
    decoder = ROUTER.lookup(b"t/dev")
    assert decoder is not None
    return out, decoder.decode(payload, 123, out)


@contextmanager
def _stdlib_only() -> Iterator[None]:
    """Parse with json.loads alone: the path the driver had before orjson."""
    fast = mapping._fast_loads
    mapping._fast_loads = json.loads
    try:
        yield
    finally:
        mapping._fast_loads = fast


def _same(payload: bytes) -> list[Reading]:
    out, problem = _decode(payload)
    with _stdlib_only():
        ref, ref_problem = _decode(payload)
    assert out == ref  # NaN fields compare unequal: those cases are checked by text below
    assert problem == ref_problem
    return out


def _fields(reading: Reading) -> tuple[object, ...]:
    return reading.value, reading.quality, reading.raw, reading.device_ts_ns, reading.detail


VALUES = st.one_of(st.floats(allow_nan=False), st.integers(), st.booleans(), st.none(),
                   st.text(max_size=6), st.just(-12345.0), st.lists(st.floats(), max_size=2))
STAMPS = st.one_of(st.integers(min_value=-10, max_value=10**22), st.floats(allow_nan=False),
                   st.just("2026-11-26T07:00:00Z"), st.just("2026-11-26T07:00:00"))


@settings(max_examples=200, deadline=None)
@given(value=VALUES, stamp=STAMPS, drop=st.booleans())
def test_fast_and_full_checks_agree(value: object, stamp: object, drop: bool) -> None:
    doc: dict[str, object] = {"a": value, "w": {"a": value}}
    if not drop:
        doc[TS] = stamp
    out = _same(json.dumps(doc).encode())
    fast, nested, sentinel, _ = out
    assert _fields(nested)[1:] == _fields(fast)[1:]
    assert _fields(nested)[0] == _fields(fast)[0] or fast.value is None
    if value != -12345:
        assert _fields(sentinel) == _fields(fast)
    else:
        assert (sentinel.quality, sentinel.detail) == (Quality.INVALID, "sentinel value")


def test_what_orjson_refuses_the_standard_library_decides() -> None:
    # NaN and a number beyond a float: JSON for json.loads, not for orjson
    for text in (b'{"a": NaN, "w": {"a": NaN}}', b'{"a": 1e400, "w": {"a": 1e400}}'):
        out, problem = _decode(text)
        assert problem == ("bad_value", "not a finite number")
        assert [r.quality for r in out] == [Quality.INVALID] * 4
        assert {r.detail for r in out} == {"not a finite number"}
    # a byte order mark and UTF-16: read by json.loads
    for text in (b'\xef\xbb\xbf{"a": 20.5}', '{"a": 20.5}'.encode("utf-16")):
        out, problem = _decode(text)
        assert out[0].value == 20.5
        assert problem == ("bad_timestamp", "no timestamp field")
    out, problem = _decode(b"[" * 5000 + b"]" * 5000)
    assert problem == ("bad_json", "JSON nested too deeply")
    out, problem = _decode(b'{"a": 1,}')
    assert problem is not None
    assert problem[0] == "bad_json"
    assert {r.detail for r in out} == {"bad JSON"}


def test_a_timestamp_beyond_64_bits_is_a_bad_timestamp_not_a_crash() -> None:
    for stamp in (b"1" + b"0" * 30, b"1" + b"0" * 400, b"9223372036854775808"):
        out, problem = _decode(b'{"a": 21.5, "w": {"a": 21.5}, "ts": ' + stamp + b"}")
        assert problem is not None
        assert problem[0] == "bad_timestamp"
        assert (out[0].value, out[0].quality, out[0].device_ts_ns) == (21.5, Quality.GOOD, None)


def test_the_load_benchmark_payload_is_read_alike_by_both_parsers() -> None:
    from bench.mqtt_load import payloads

    for _, body in payloads(3, 6):
        doc = json.loads(body)
        out = _same(json.dumps({"a": doc["temperature"], "ts": doc["ts"]}).encode())
        assert out[0].device_ts_ns == doc["ts"] * 1_000_000
        assert math.isclose(out[3].value or 0.0, doc["temperature"] * 0.1 + 2.0)


def test_pubacks_of_one_read_are_one_write_in_order() -> None:
    msgs = [(b"t/dev", b'{"a": %d}' % i) for i in range(300)]
    splitter = client._StreamSplitter(None, keep_retained=False)
    raw = stream(msgs)
    publishes, acks = splitter._split(raw[:1000])
    rest, more = splitter._split(splitter._rx + raw[1000:])
    assert publishes + rest == msgs
    assert acks + more == [i % 65535 + 1 for i in range(1, 301)]
    packet = client.puback_packet(acks + more)
    assert len(packet) == 4 * 300
    assert packet[:8] == bytes([0x40, 2, 0, 2, 0x40, 2, 0, 3])
    assert client.puback_packet([65535]) == bytes([0x40, 2, 0xFF, 0xFF])


async def test_batched_pubacks_reach_the_broker(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Every message the driver took is acknowledged: its session has nothing to redeliver."""
    sensor = profile({"name": "dp", "quantity": "differential_pressure", "unit": "Pa",
                      "topic": "{topic}/dp"})
    loaded = site_config(tmp_path, mosquitto, devices=[{"name": "s1", "profile": "sensor",
                                                        "topic": "plant/s1"}],
                         profiles={"sensor": sensor}, client_id="cm-test-acks",
                         clean_session=False, subscriptions=["plant/#"])
    count = 3000
    async with running(loaded) as (driver, got):
        await flood(mosquitto.host, mosquitto.port,
                    [(b"plant/s1/dp", b"%d" % i) for i in range(count)])
        await got.wait(lambda: driver.messages >= count, timeout=30)
        await asyncio.sleep(0.3)  # the last read's PUBACKs leave on the next writable event
    assert sorted(r.value for r in got.of("s1/dp")) == [float(i) for i in range(count)]
    redelivered: list[bytes] = []
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="cm-test-acks",
                              clean_session=False) as again:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.5):
                async for message in again.messages:
                    redelivered.append(bytes(message.payload))  # type: ignore[arg-type]
    assert redelivered == [], f"{len(redelivered)} messages were never acknowledged"
