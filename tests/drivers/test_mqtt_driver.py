"""The MQTT driver against a real Mosquitto: subscriptions, payload mappings, bad payloads."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from monitor.config import LoadedConfig
from monitor.model import Quality
from tests.drivers.mqttkit import profile, publisher, running, site_config
from tests.fixtures.mosquitto import Mosquitto

INCUBATOR = profile(
    {"name": "temp", "quantity": "temperature", "unit": "degC", "topic": "{topic}/state",
     "json_path": "temp", "timestamp_path": "ts"},
    {"name": "co2", "quantity": "co2", "unit": "%", "topic": "{topic}/state",
     "json_path": "gas.co2", "unit_path": "gas.unit"},
    {"name": "o2", "quantity": "o2", "unit": "%", "topic": "{topic}/state",
     "json_path": "gas.list[1]"},
    {"name": "door", "quantity": "door", "unit": "", "topic": "{topic}/state",
     "json_path": "door", "value_map": {"open": 1, "closed": 0}},
    {"name": "rh", "quantity": "relative_humidity", "unit": "%RH", "topic": "{topic}/rh",
     "range": [0, 100]},
    {"name": "dp", "quantity": "differential_pressure", "unit": "Pa", "topic": "{topic}/dp",
     "scale": 0.1},
    kind="co2_incubator",
)
TRH = profile(
    {"name": "t", "quantity": "temperature", "unit": "degC", "payload_unit": "°C",
     "topic": "{topic}/reading", "json_path": "$.t.value", "unit_path": "t.unit",
     "timestamp_path": "time", "timestamp_format": "iso8601"},
)
ALARMS = profile(
    {"name": "alarm", "quantity": "status", "unit": "", "topic": "lab/+/alarm"},
)


def _config(tmp_path: Path, broker: Mosquitto, **connection: object) -> LoadedConfig:
    return site_config(
        tmp_path, broker,
        devices=[
            {"name": "inc1", "profile": "incubator", "topic": "lab/inc1"},
            {"name": "th1", "profile": "trh", "topic": "lab/th1"},
            {"name": "alarms", "profile": "alarms"},
        ],
        profiles={"incubator": INCUBATOR, "trh": TRH, "alarms": ALARMS},
        **connection,
    )


async def test_every_payload_mapping(tmp_path: Path, mosquitto: Mosquitto) -> None:
    loaded = _config(tmp_path, mosquitto)
    async with running(loaded) as (driver, got), publisher(mosquitto) as pub:
        state = {"ts": 1700000000123, "temp": 37.05, "door": "closed",
                 "gas": {"co2": 5.02, "unit": "%", "list": [0, 20.9]}}
        await pub.publish("lab/inc1/state", json.dumps(state), qos=1)
        await pub.publish("lab/inc1/rh", b"93.5", qos=1)
        await pub.publish("lab/inc1/dp", b" -125\n", qos=1)
        await pub.publish("lab/th1/reading", json.dumps(
            {"time": "2024-03-01T08:00:00.250+01:00", "t": {"value": 21.4, "unit": "°C"}}), qos=1)
        await pub.publish("lab/x/alarm", b"1", qos=1)
        await pub.publish("lab/y/alarm", b"0", qos=1)
        await got.wait(lambda: len(got.readings) >= 9)

    temp, = got.of("inc1/temp")
    assert (temp.value, temp.quality) == (37.05, Quality.GOOD)
    assert temp.device_ts_ns == 1700000000123 * 1_000_000
    assert temp.ts_source == "device"
    assert [r.value for r in got.of("inc1/co2")] == [5.02]
    assert [r.value for r in got.of("inc1/o2")] == [20.9]
    assert [r.value for r in got.of("inc1/door")] == [0.0]
    # several channels of one message arrive in one batch, with one daemon timestamp
    state_readings = [r for r in got.readings if r.channel in
                      {"inc1/temp", "inc1/co2", "inc1/o2", "inc1/door"}]
    assert len({r.ts_ns for r in state_readings}) == 1
    assert {r.device_ts_ns for r in got.of("inc1/co2")} == {None}  # no timestamp_path there
    rh, = got.of("inc1/rh")
    assert (rh.value, rh.quality, rh.device_ts_ns) == (93.5, Quality.GOOD, None)
    dp, = got.of("inc1/dp")
    assert (dp.value, dp.raw) == (pytest.approx(-12.5), -125.0)
    t, = got.of("th1/t")
    assert (t.value, t.quality) == (21.4, Quality.GOOD)
    assert t.device_ts_ns == 1709276400250 * 1_000_000  # 07:00:00.250 UTC
    assert sorted(r.value for r in got.of("alarms/alarm")) == [0.0, 1.0]
    assert driver.problems.total == 0
    assert driver.status["inc1"].available
    assert driver.status["th1"].last_success_ns


async def test_wildcard_subscription_and_unmapped_topics(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    loaded = _config(tmp_path, mosquitto, subscriptions=["lab/#"])
    async with running(loaded) as (driver, got), publisher(mosquitto) as pub:
        assert driver.filters() == ["lab/#"]
        await pub.publish("lab/inc1/rh", b"40", qos=1)
        await pub.publish("lab/inc9/rh", b"41", qos=1)  # nobody's topic
        await pub.publish("lab/inc1/rh", b"42", qos=1)
        await got.wait_count("inc1/rh", 2)
    assert [r.value for r in got.of("inc1/rh")] == [40.0, 42.0]
    assert driver.problems.by_topic["lab/inc9/rh"] == 1
    assert driver.problems.by_kind["unmapped"] == 1


async def test_default_subscriptions_are_the_fewest_covering_filters(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    loaded = _config(tmp_path, mosquitto)
    async with running(loaded) as (driver, _):
        assert sorted(driver.filters()) == [
            "lab/+/alarm", "lab/inc1/dp", "lab/inc1/rh", "lab/inc1/state", "lab/th1/reading",
        ]


BAD_STATE_PAYLOADS = {
    "bad_json": b'{"temp": 37.1,',
    "deep_json": b"[" * 30_000 + b"]" * 30_000,
    "huge_int": json.dumps({"temp": 10**400, "gas": {"co2": 1, "unit": "%", "list": [0, 1]},
                            "door": "open"}).encode(),
    "huge_float": b'{"temp": 1e999}',
    "nan": b'{"temp": NaN, "gas": {"co2": Infinity}}',
    "wrong_type": b'{"temp": "hot", "gas": {"co2": [1], "unit": "%", "list": {}}, "door": 3}',
    "not_utf8": b'{"temp": "\xff\xfe"}',
    "null": b'{"temp": null}',
    "array": b"[1, 2, 3]",
    "bad_unit": json.dumps({"ts": 1, "temp": 37, "door": "open",
                            "gas": {"co2": 5, "unit": "ppm", "list": [0, 20]}}).encode(),
    "too_large": b'{"temp": 1, "pad": "' + b"x" * 70_000 + b'"}',
}


async def test_malformed_payloads_are_counted_not_raised(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="monitor.drivers.mqtt")
    loaded = _config(tmp_path, mosquitto)
    async with running(loaded) as (driver, got), publisher(mosquitto) as pub:
        for payload in BAD_STATE_PAYLOADS.values():
            await pub.publish("lab/inc1/state", payload, qos=1)
        for payload in (b"", b"abc", b"nan", b"-inf", b"1e999", b"12,5"):
            await pub.publish("lab/inc1/rh", payload, qos=1)
        await pub.publish("lab/inc1/rh", b"150", qos=1)  # outside the sensor's range
        await pub.publish("lab/inc1/rh", b"55", qos=1)  # and a good one after all that
        await got.wait(lambda: any(r.value == 55.0 for r in got.of("inc1/rh")))

    assert driver.problems.by_topic["lab/inc1/state"] == len(BAD_STATE_PAYLOADS)
    assert driver.problems.by_topic["lab/inc1/rh"] == 6
    assert driver.problems.by_kind["bad_json"] == 3  # truncated, too deep, not UTF-8
    assert driver.problems.by_kind["too_large"] == 1
    assert driver.problems.by_kind["bad_unit"] == 1
    # every bad message became invalid readings of the channels that topic feeds
    temps = got.of("inc1/temp")
    assert len(temps) == len(BAD_STATE_PAYLOADS)
    bad_temps = [r for r in temps if r.quality is not Quality.GOOD]
    assert len(bad_temps) == len(BAD_STATE_PAYLOADS) - 1  # the bad_unit one has a good temp
    assert all(r.detail and r.value is None for r in bad_temps)
    details = {r.detail for r in got.of("inc1/co2", Quality.INVALID)}
    assert {"unit 'ppm', expected '%'", "not a finite number", "bad JSON",
            "JSON nested too deeply", "payload too large"} <= details
    assert {"number too large", "null value", "not a finite number"} <= {r.detail for r in temps}
    rh = got.of("inc1/rh")
    assert [r.quality for r in rh[:6]] == [Quality.INVALID] * 6
    assert (rh[6].quality, rh[6].value, rh[6].detail) == (Quality.OUT_OF_RANGE, 150.0,
                                                          "outside [0, 100]")
    assert (rh[7].quality, rh[7].value) == (Quality.GOOD, 55.0)
    assert driver.status["inc1"].errors["bad_json"] == 3
    # logged once per burst and topic, not once per message
    warnings = [r for r in caplog.records if r.getMessage() == "unusable MQTT payload"]
    assert len(warnings) == 2
    assert driver.connects == 1, "a bad payload must never cost the session"


async def test_shared_subscription_splits_messages_between_instances(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    first = _config(tmp_path, mosquitto, shared_group="monitors", client_id="mon-a")
    second = _config(tmp_path, mosquitto, shared_group="monitors", client_id="mon-b")
    async with running(first) as (a, got_a), running(second) as (_, got_b), \
            publisher(mosquitto) as pub:
        assert a.filters()[0].startswith("$share/monitors/")
        for i in range(40):
            await pub.publish("lab/inc1/rh", str(i), qos=1)
        await got_a.wait(lambda: len(got_a.of("inc1/rh")) + len(got_b.of("inc1/rh")) >= 40)
    values_a = {r.value for r in got_a.of("inc1/rh")}
    values_b = {r.value for r in got_b.of("inc1/rh")}
    assert values_a | values_b == {float(i) for i in range(40)}
    assert not values_a & values_b, "a shared subscription delivers each message once"
    assert values_a, "both instances take a share"
    assert values_b, "both instances take a share"
