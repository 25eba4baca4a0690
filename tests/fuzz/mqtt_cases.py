"""Random, deep, huge and wrongly typed MQTT payloads, published to the real driver via Mosquitto.

The MQTT driver runs (its own ``run()``, subscribed through a real broker) on
an event loop in a background thread for the whole test, so that hypothesis
drives plain synchronous examples and can shrink them. Each example publishes
one payload to a mapped or unmapped topic, then a sentinel number on another
device's topic; once the sentinel's reading arrives the payload has been
handled. The properties: the driver is still running, a good reading is a
finite number, every other reading says why, and a payload that produced no
reading on a mapped topic was counted as a problem. Shared by tests/fuzz and
bench.fuzz_long.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiomqtt
from hypothesis import strategies as st

from monitor.model import Quality, Reading

STATE = "site/inc/state"  # the incubator's JSON state message (6 channels)
DP = "site/dp/dp"  # a plain number
SENTINEL = "site/sentinel/dp"

_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20), st.sampled_from(["open", "closed", "true", "false", "NaN", "1e999"]),
)
_json = st.recursive(_json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)),
    max_leaves=20)
_fields = st.sampled_from(["temperature", "co2", "o2", "rh", "door", "alarm", "ts"])


@st.composite
def mutated_state(draw: st.DrawFn) -> bytes:
    doc: dict[str, Any] = {"temperature": 37.0, "co2": 5.0, "o2": 20.9, "rh": 93.0,
                           "door": "closed", "alarm": "false", "ts": 1_700_000_000_000}
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["replace", "delete", "nest"]))
        field = draw(_fields)
        if action == "replace":
            doc[field] = draw(_json)
        elif action == "delete":
            doc.pop(field, None)
        else:
            doc = {"data": doc}
    return json.dumps(doc, allow_nan=True).encode()


def _deep(depth: int, opener: str) -> bytes:
    """JSON nested ``depth`` levels: lists, or objects each holding the next."""
    if opener == "[":
        return ("[" * depth + "]" * depth).encode()
    return ('{"a":' * depth + "1" + "}" * depth).encode()


payloads = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=100).map(str.encode),
    _json.map(lambda v: json.dumps(v).encode()),
    mutated_state(),
    st.builds(_deep, st.integers(1, 200_000), st.sampled_from(["[", "{"])),
    st.sampled_from([b"1e999", b"-1e999", b"NaN", b"Infinity", b"-0", b"1" * 5000,
                     b"0x1F", b"12,5", b" 12.5 ", b"", b"\x00", b"null", b"true",
                     b'{"temperature": ' + b"9" * 5000 + b"}", "37,0 °C".encode()]),
)
topics = st.sampled_from([STATE, STATE, DP, "site/inc/other", "site/unknown/x"])
cases = st.tuples(topics, payloads)


class MqttFuzzHarness:
    """A broker, the MQTT driver and a publisher, on an event loop in a thread."""

    def __init__(self, broker: Any, tmp: Path) -> None:
        self.broker = broker
        self.tmp = tmp
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.readings: list[Reading] = []
        self.sentinel = itertools.count(1)
        self.driver: Any = None
        self.task: asyncio.Task[None] | None = None
        self.client: aiomqtt.Client | None = None

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    async def _start(self) -> None:
        from monitor.drivers.mqtt import MqttDriver
        from simulators.profiles import load_profile
        from tests.drivers.mqttkit import bindings, site_config

        def body(name: str) -> dict[str, Any]:
            return load_profile(name).model_dump(mode="json", exclude_none=True)

        loaded = site_config(
            self.tmp, self.broker,
            devices=[{"name": "inc", "profile": "inc", "topic": "site/inc"},
                     {"name": "dp", "profile": "dp", "topic": "site/dp"},
                     {"name": "sentinel", "profile": "dp", "topic": "site/sentinel"}],
            profiles={"inc": body("co2-incubator-mqtt"), "dp": body("dp-mqtt")},
            subscriptions=["site/#"],
        )
        conn = loaded.config.connections[0]
        self.driver = MqttDriver(conn, bindings(loaded), self.readings.extend)  # type: ignore[arg-type]
        self.task = asyncio.create_task(self.driver.run())
        async with asyncio.timeout(10):
            await self.driver.connected.wait()
        self.client = aiomqtt.Client(self.broker.host, self.broker.port, identifier="fuzz-pub")
        await self.client.__aenter__()

    async def _stop(self) -> None:
        if self.client is not None:
            await self.client.__aexit__(None, None, None)
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def _case(self, topic: str, payload: bytes) -> tuple[list[Reading], int, bool]:
        assert self.client is not None
        assert self.task is not None
        mark = len(self.readings)
        problems = self.driver.problems.total
        value = (next(self.sentinel) % 90_000) / 1000.0
        await self.client.publish(topic, payload, qos=1)
        await self.client.publish(SENTINEL, repr(value).encode(), qos=1)
        async with asyncio.timeout(10):
            while not any(r.channel == "sentinel/dp" and r.value == value
                          for r in self.readings[mark:]):
                if self.task.done():
                    break
                await asyncio.sleep(0.002)
        got = [r for r in self.readings[mark:] if not r.channel.startswith("sentinel/")]
        return got, self.driver.problems.total - problems, not self.task.done()

    def run_case(self, topic: str, payload: bytes) -> str:
        got, new_problems, alive = self.call(self._case(topic, payload))
        return check_case(topic, got, new_problems, alive)


def check_case(topic: str, got: list[Reading], new_problems: int, alive: bool) -> str:
    assert alive, "the MQTT driver's run() ended"
    for r in got:
        if r.quality is Quality.GOOD:
            assert isinstance(r.value, float), r
            assert math.isfinite(r.value), r
        else:
            assert r.detail, f"a {r.quality} reading without a reason: {r}"
    if not got:
        assert new_problems >= 1, f"a payload on {topic} vanished without being counted"
        return "counted problem"
    return "good" if all(r.quality is Quality.GOOD for r in got) else "qualified readings"


@contextmanager
def mqtt_harness(broker: Any, tmp: Path) -> Iterator[MqttFuzzHarness]:
    harness = MqttFuzzHarness(broker, tmp)
    harness.thread.start()
    try:
        harness.call(harness._start())
        yield harness
    finally:
        try:
            harness.call(harness._stop())
        finally:
            harness.loop.call_soon_threadsafe(harness.loop.stop)
            harness.thread.join(10)
