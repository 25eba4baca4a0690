"""Simulated MQTT devices: physics models publishing what their profiles describe.

In-process use (tests, the demo)::

    world = World(SimClock())
    devices = [mqtt_device(world, "inc1", "co2-incubator-mqtt", "lab-1", topic="lab/inc1")]
    async with MqttSimulator("127.0.0.1", broker_port, devices, world=world) as sim:
        sim.model("inc1").open_door()              # physics: CO2 falls, then recovers
        sim.set("inc1", "temperature", 39.5)       # scripted value, until set(..., None)
        await sim.publish_now("inc1")              # one message now, whatever the interval
        sim.set_comm_fault("inc1", "no_response")  # goes quiet (or "garbage", "late")
        await sim.publish_raw("lab/inc1/state", b"{bad")

Every device publishes every ``interval`` simulated seconds (``None``: only
when asked) at QoS 1, stamped with the simulated clock. ``model()`` and
``set_comm_fault()`` make it a scenario target like the Modbus simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from monitor.config.devices import MqttConnection, ProfileConfig
from monitor.config.root import Config
from simulators.devices.base import DeviceModel
from simulators.devices.environment import World
from simulators.devices.models import build_model
from simulators.profiles import load_profile

from .payloads import TopicPlan, build_payload, plan_topics

log = logging.getLogger(__name__)

COMM_FAULTS = ("no_response", "late", "garbage")


@dataclass
class MqttDevice:
    """A device that publishes its model's values on the topics its profile names."""

    name: str
    profile: ProfileConfig
    model: DeviceModel
    topic: str | None
    interval: float | None = 1.0  # simulated seconds between messages; None: on request
    plans: list[TopicPlan] = field(init=False)

    def __post_init__(self) -> None:
        self.plans = plan_topics(self.profile, self.topic)

    def messages(self, now: float) -> list[tuple[str, bytes]]:
        values = self.model.read(now)
        return [(plan.topic, build_payload(plan, values, now)) for plan in self.plans]


def mqtt_device(
    world: World, name: str, profile: str | ProfileConfig, location: str, *,
    topic: str | None = None, interval: float | None = 1.0, **model_options: Any,
) -> MqttDevice:
    """A simulated MQTT device for ``profile`` (a name in config/devices or a model)."""
    prof = load_profile(profile) if isinstance(profile, str) else profile
    model = build_model(world, name, prof, location, **model_options)
    return MqttDevice(name, prof, model, topic, interval)


@dataclass
class _Fault:
    mode: str
    delay: float
    until: float | None


class MqttSimulator:
    """Publishes for many devices through one broker connection."""

    def __init__(
        self, host: str, port: int, devices: Sequence[MqttDevice], *,
        world: World | None = None, qos: int = 1, client_id: str | None = None,
        username: str | None = None, password: str | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.devices = {d.name: d for d in devices}
        if len(self.devices) != len(devices):
            raise ValueError("two simulated devices have the same name")
        self.world = world or (devices[0].model.world if devices else World())
        self.qos = qos
        self.client_id = client_id or f"cm-sim-{os.getpid()}-{id(self):x}"
        self._client_args: dict[str, Any] = {
            "username": username, "password": password, "tls_context": tls_context,
        }
        self.faults: dict[str, _Fault] = {}
        self.published: Counter[str] = Counter()  # messages per device
        self._client: aiomqtt.Client | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._reconnecting = asyncio.Lock()

    @classmethod
    def from_config(cls, config: Config, connection: str, world: World | None = None,
                    **kwargs: Any) -> MqttSimulator:
        """Simulate every enabled device of one MQTT connection of a site config."""
        conn = next(c for c in config.connections if c.name == connection)
        if not isinstance(conn, MqttConnection):
            raise ValueError(f"connection {connection!r} is not an MQTT connection")
        world = world or World()
        devices = [
            MqttDevice(d.name, config.profiles[d.profile],
                       build_model(world, d.name, config.profiles[d.profile], d.location),
                       d.topic, d.poll_interval)
            for d in config.devices if d.connection == connection and d.enabled
        ]
        password = conn.password.get_secret_value() if conn.password else None
        return cls(conn.host, conn.port, devices, world=world, username=conn.username,
                   password=password, **kwargs)

    # -- lifecycle -----------------------------------------------------------------------
    async def __aenter__(self) -> MqttSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        await self._connect()
        if self.world.clock.speed <= 0:
            return  # a manual clock: devices publish only through publish_now()
        for device in self.devices.values():
            if device.interval:
                self._tasks.append(asyncio.create_task(self._publish_loop(device),
                                                       name=f"mqtt-sim:{device.name}"))

    async def _connect(self) -> None:
        client = aiomqtt.Client(self.host, self.port, identifier=self.client_id,
                                **self._client_args)
        client.pending_calls_threshold = 100_000  # many devices publish in the same instant
        await client.__aenter__()
        self._client = client

    async def _reconnect(self, broken: aiomqtt.Client | None) -> None:
        """After a lost connection: one task reconnects, the others find it done."""
        async with self._reconnecting:
            if self._client is not broken:
                return
            self._client = None
            if broken is not None:
                with contextlib.suppress(aiomqtt.MqttError, RuntimeError):
                    await broken.__aexit__(None, None, None)
            try:
                await self._connect()
                log.info("MQTT simulator reconnected to %s:%s", self.host, self.port)
            except aiomqtt.MqttError:
                await asyncio.sleep(0.5)  # broker still away; the next publish tries again

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(aiomqtt.MqttError):
                await client.__aexit__(None, None, None)

    # -- scripting -----------------------------------------------------------------------
    def model(self, device: str) -> DeviceModel:
        return self.devices[device].model

    def set(self, device: str, quantity: str, value: float | None) -> None:
        """Publish ``value`` for ``quantity`` from now on (``None``: the physics again)."""
        self.model(device).force(quantity, value)

    def set_comm_fault(self, device: str, mode: str | None, *, delay: float = 0.0,
                       code: int = 0, duration: float | None = None) -> None:
        """``no_response``: publish nothing; ``late``: publish ``delay`` s late;
        ``garbage``: publish bytes that are not the payload. ``None`` clears it.
        ``duration`` is in simulated seconds; ``code`` is accepted for the scenario
        interface and unused (MQTT has no exception codes)."""
        del code
        if device not in self.devices:
            raise KeyError(f"no simulated MQTT device {device!r}")
        if mode is None:
            self.faults.pop(device, None)
            return
        if mode not in COMM_FAULTS:
            raise ValueError(f"MQTT comm fault must be one of {', '.join(COMM_FAULTS)}")
        now = self.world.clock.now()
        self.faults[device] = _Fault(mode, delay, now + duration if duration else None)

    async def publish_now(self, device: str | None = None) -> None:
        """Publish the current values of one device (or all) at once, faults applied."""
        names = [device] if device is not None else list(self.devices)
        await asyncio.gather(*(self._publish(self.devices[n]) for n in names))

    async def publish_raw(self, topic: str, payload: bytes | str, *, qos: int | None = None,
                          retain: bool = False) -> None:
        await self._connected().publish(topic, payload, qos=self.qos if qos is None else qos,
                                        retain=retain)

    # -- inside --------------------------------------------------------------------------
    def _connected(self) -> aiomqtt.Client:
        if self._client is None:
            raise aiomqtt.MqttError("the MQTT simulator is not connected")
        return self._client

    def _fault(self, device: str) -> _Fault | None:
        fault = self.faults.get(device)
        if fault is not None and fault.until is not None and self.world.clock.now() >= fault.until:
            del self.faults[device]
            return None
        return fault

    async def _publish(self, device: MqttDevice) -> None:
        fault = self._fault(device.name)
        if fault is not None and fault.mode == "no_response":
            return
        now = self.world.clock.now()
        messages = device.messages(now)
        if fault is not None and fault.mode == "late":
            await asyncio.sleep(self.world.clock.real_seconds(fault.delay))
        if fault is not None and fault.mode == "garbage":
            messages = [(topic, b"\x00\xff" + payload[: len(payload) // 2])
                        for topic, payload in messages]
        client = self._client
        if client is None:
            await self._reconnect(None)
            client = self._connected()
        try:
            await asyncio.gather(*(client.publish(t, p, qos=self.qos) for t, p in messages))
        except aiomqtt.MqttError:
            await self._reconnect(client)
            raise
        self.published[device.name] += len(messages)

    async def _publish_loop(self, device: MqttDevice) -> None:
        """Drift-free: the n-th message is due at start + n x interval (simulated time)."""
        assert device.interval is not None
        clock = self.world.clock
        due = clock.now()
        failing = False
        while True:
            try:
                await self._publish(device)
                failing = False
            except aiomqtt.MqttError as err:  # broker gone: keep the schedule, say so once
                if not failing:
                    log.warning("simulated device %s could not publish: %s", device.name, err)
                failing = True
            due += device.interval
            await asyncio.sleep(max(0.0, clock.real_seconds(due - clock.now())))
