"""The MQTT driver: one broker session, many devices, readings pushed as they arrive.

The session is persistent (``clean_session: false`` with a fixed client id) and
subscribes at QoS 1, so while the daemon is away for a short time (restart,
broker restart, network blip) the broker keeps the messages and hands them
over when it comes back. A lost connection gives every channel one reading of
quality ``comm_error``, logs once, and is retried with capped, jittered
backoff; subscriptions are made again on every connection.

Incoming messages arrive in batches (see ``client.BatchingClient``); each
batch becomes one ``emit`` call. Unusable payloads are counted per topic and
kind, logged once per burst, and become ``invalid`` readings of the channels
that topic feeds; they never raise.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
from collections.abc import Sequence

import aiomqtt
from paho.mqtt.reasoncodes import ReasonCode

from monitor.config.devices import MqttConnection
from monitor.drivers.base import DeviceBinding, DeviceStatus, Driver, Emit, register
from monitor.errors import DriverError
from monitor.logs import log_event
from monitor.model import Quality, Reading, utc_now_ns

from .client import Batch, BatchingClient
from .errors import PayloadProblems
from .mapping import TopicDecoder, TopicRouter

log = logging.getLogger(__name__)
# paho logs every socket error at ERROR; each ends in a disconnect that the driver logs once,
# with the reason, so paho's own lines would only repeat it at a louder level.
_paho_log = logging.getLogger(__name__ + ".paho")
_paho_log.setLevel(logging.CRITICAL)

_SWEEP_INTERVAL = 10.0
_STABLE = 5.0  # seconds a session must hold before the reconnect backoff starts over


def default_client_id(connection: str) -> str:
    """Stable across restarts (the session must be found again) and unique per host."""
    return f"cm-{socket.gethostname()}-{connection}"


def tls_context(conn: MqttConnection) -> ssl.SSLContext | None:
    if not conn.tls:
        return None
    try:
        context = ssl.create_default_context(cafile=conn.ca_file)
        if conn.cert_file:
            context.load_cert_chain(conn.cert_file, conn.key_file)
    except (OSError, ssl.SSLError) as err:
        raise DriverError(f"MQTT TLS set-up for {conn.name} failed: {err}") from err
    if conn.tls_insecure:
        context.check_hostname = False
    return context


@register("mqtt")
class MqttDriver(Driver):
    """Subscribes to the devices' topics on one broker and turns messages into readings."""

    connection: MqttConnection

    def __init__(
        self, connection: MqttConnection, devices: Sequence[DeviceBinding], emit: Emit
    ) -> None:
        super().__init__(connection, devices, emit)
        self.router = TopicRouter(self.devices, connection.max_payload)
        self.client_id = connection.client_id or default_client_id(connection.name)
        self.subscriptions = list(connection.subscriptions) or self.router.subscriptions()
        self.problems = PayloadProblems(log, connection.name)
        self.connected = asyncio.Event()
        self.connects = 0
        self.connection_failures = 0
        self.messages = 0
        self.readings = 0
        self.last_error: str | None = None
        self.retained_ignored = 0
        self._channels = [c.channel for c in self.router.channels]
        self._in_outage = False
        self._up_since: float | None = None

    def filters(self) -> list[str]:
        """The filters actually sent to the broker (with ``$share/GROUP/`` when shared)."""
        group = self.connection.shared_group
        return [f"$share/{group}/{f}" if group else f for f in self.subscriptions]

    async def run(self) -> None:
        conn = self.connection
        delay = conn.reconnect_min
        sweeper = asyncio.create_task(self._sweep(), name=f"mqtt-sweep:{conn.name}")
        try:
            while True:
                self._up_since = None
                try:
                    await self._session()
                except (aiomqtt.MqttError, DriverError) as err:
                    self._lost(str(err) or type(err).__name__)
                loop = asyncio.get_running_loop()
                if self._up_since is not None and loop.time() - self._up_since >= _STABLE:
                    delay = conn.reconnect_min  # a session that held: start backing off afresh
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, conn.reconnect_max)
        finally:
            sweeper.cancel()
            self.connected.clear()

    async def _session(self) -> None:
        conn = self.connection
        client = BatchingClient(
            conn.host,
            conn.port,
            username=conn.username,
            password=conn.password.get_secret_value() if conn.password else None,
            identifier=self.client_id,
            clean_session=conn.clean_session,
            keepalive=max(1, round(conn.keepalive)),
            tls_context=tls_context(conn),
            timeout=10.0,
            logger=_paho_log,
            on_batch=self._on_batch,
            keep_retained=conn.retained == "accept",
        )
        try:
            async with client:
                await self._subscribe(client)
                self._up()
                await client.wait_disconnected()
        finally:
            self.retained_ignored += client.retained_ignored

    async def _subscribe(self, client: BatchingClient) -> None:
        qos = self.connection.qos
        filters = self.filters()
        topics: list[tuple[str, int]] = [(f, qos) for f in filters]
        granted = await client.subscribe(topics)
        refused = [f for f, code in zip(filters, granted, strict=False) if _refused(code)]
        if refused:
            log_event(log, logging.ERROR, "MQTT subscription refused by the broker",
                      connection=self.connection.name, filters=",".join(refused))
        if len(refused) == len(filters):
            raise DriverError("every MQTT subscription was refused (check the broker's ACL)")

    def _up(self) -> None:
        self._up_since = asyncio.get_running_loop().time()
        self.connects += 1
        self.connected.set()
        if self._in_outage or self.connects == 1:
            log_event(log, logging.INFO, "MQTT connected", connection=self.connection.name,
                      host=self.connection.host, port=self.connection.port,
                      client_id=self.client_id, filters=",".join(self.filters()))
        self._in_outage = False
        self.last_error = None

    def _lost(self, message: str) -> None:
        """Log once per outage; every channel gets one comm_error reading at its start."""
        self.connected.clear()
        self.connection_failures += 1
        self.last_error = message
        if self._in_outage:
            return
        self._in_outage = True
        log_event(log, logging.WARNING, "MQTT connection lost" if self.connects else
                  "MQTT connection failed", connection=self.connection.name,
                  host=self.connection.host, port=self.connection.port, error=message)
        for status in self.status.values():
            _mark_failed(status, message)
        now = utc_now_ns()
        detail = f"broker: {message}"[:120]
        self.emit([Reading(c, None, Quality.COMM_ERROR, now, None, None, detail)
                   for c in self._channels])

    def _on_batch(self, batch: Batch) -> None:
        """The per-batch hot path: decode, emit once, update device health once per device."""
        now = utc_now_ns()
        out: list[Reading] = []
        lookup = self.router.lookup
        seen: set[TopicDecoder] = set()
        for topic, payload in batch:
            decoder = lookup(topic)
            if decoder is None:
                self.problems.record(topic.decode("utf-8", "replace"), "unmapped",
                                     "no channel listens to this topic")
                continue
            problem = decoder.decode(payload, now, out)
            seen.add(decoder)
            if problem is not None:
                self.problems.record(decoder.topic, *problem)
                for device in decoder.devices:
                    self.status[device].errors[problem[0]] += 1
        self.messages += len(batch)
        if out:
            self.readings += len(out)
            try:
                self.emit(out)
            except Exception:  # the pipeline's bug must not kill the session
                log.exception("emit failed", extra={"connection": self.connection.name})
        for decoder in seen:
            for device in decoder.devices:
                _mark_alive(self.status[device], now)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(_SWEEP_INTERVAL)
            self.problems.sweep()


def _refused(code: object) -> bool:
    if isinstance(code, ReasonCode):
        return code.is_failure
    return code == 0x80


def _mark_alive(status: DeviceStatus, now_ns: int) -> None:
    if not status.available:
        if status.polls:
            log_event(log, logging.INFO, "device recovered", device=status.name)
        status.available = True
        status.last_error = None
    status.last_success_ns = now_ns
    status.polls += 1


def _mark_failed(status: DeviceStatus, message: str) -> None:
    status.available = False
    status.last_error = message
    status.errors["connection"] += 1
