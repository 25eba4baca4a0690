"""Ingest rate of the MQTT driver from a real Mosquitto (figures printed; floor kept low).

The publisher runs in the same process and on the same core as the driver, so
the rate measured here is a lower bound of what the daemon alone reaches; the
benchmark (bench/) measures it with separate processes.
"""

from __future__ import annotations

import time
from pathlib import Path

from monitor.config import LoadedConfig
from simulators.mqtt import build_payload, flood, plan_topics
from simulators.profiles import load_profile
from tests.drivers.mqttkit import running, site_config
from tests.fixtures.mosquitto import Mosquitto

DEVICES = 100
VALUES = {"temperature": 37.0, "co2": 5.0, "o2": 20.9, "relative_humidity": 93.0,
          "door": 0.0, "alarm": 0.0, "differential_pressure": 12.5}


def _site(tmp_path: Path, broker: Mosquitto, profile: str) -> LoadedConfig:
    body = load_profile(profile).model_dump(mode="json", exclude_none=True)
    return site_config(
        tmp_path, broker,
        devices=[{"name": f"dev{i}", "profile": "p", "topic": f"site/room{i % 10}/dev{i}"}
                 for i in range(DEVICES)],
        profiles={"p": body}, subscriptions=["site/#"],
    )


async def _measure(tmp_path: Path, broker: Mosquitto, profile: str, messages: int) -> float:
    plans = [plan_topics(load_profile(profile), f"site/room{i % 10}/dev{i}")[0]
             for i in range(DEVICES)]
    payloads = [(plans[k % DEVICES].topic.encode(),
                 build_payload(plans[k % DEVICES], VALUES, 1.7e9 + k)) for k in range(messages)]
    per_message = len(plans[0].channels)
    async with running(_site(tmp_path, broker, profile)) as (driver, got):
        started = time.perf_counter()
        await flood(broker.host, broker.port, payloads)
        await got.wait(lambda: driver.readings >= messages * per_message, timeout=60)
        seconds = time.perf_counter() - started
    assert driver.readings == messages * per_message
    assert driver.problems.total == 0
    assert len({r.device_ts_ns for r in got.readings}) == messages or per_message == 1
    return driver.readings / seconds


async def test_json_ingest_rate(tmp_path: Path, mosquitto: Mosquitto) -> None:
    rate = await _measure(tmp_path, mosquitto, "co2-incubator-mqtt", 20_000)
    print(f"\nMQTT JSON (6 channels/message): {rate:,.0f} readings/s")
    assert rate > 10_000


async def test_plain_number_ingest_rate(tmp_path: Path, mosquitto: Mosquitto) -> None:
    rate = await _measure(tmp_path, mosquitto, "dp-mqtt", 40_000)
    print(f"\nMQTT plain numbers (1 channel/message): {rate:,.0f} readings/s")
    assert rate > 5_000
