"""Fuzz the MQTT driver with random, deep, huge and wrongly typed payloads through Mosquitto."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings

from tests.fuzz.mqtt_cases import DP, STATE, cases, mqtt_harness


def test_mqtt_driver_counts_every_bad_payload(tmp_path: Path, mosquitto: Any) -> None:
    with mqtt_harness(mosquitto, tmp_path) as harness:

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        @given(cases)
        def case(example: tuple[str, bytes]) -> None:
            harness.run_case(*example)

        case()
        # the classic crashers, whatever hypothesis drew
        for topic, payload in [(STATE, b"[" * 100_000 + b"]" * 100_000),
                               (STATE, b'{"temperature": ' + b"9" * 5000 + b"}"),
                               (DP, b"1" * 5000), (DP, b"1e999"), (STATE, b"\xff\xfe")]:
            harness.run_case(topic, payload)
