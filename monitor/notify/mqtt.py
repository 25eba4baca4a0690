"""MQTT notifier: each event as JSON on a topic, plus a retained list of active alarms.

The retained summary lets a control-room display or a SCADA that connects at
any time see what is active now, without replaying events. It comes from the
alarm engine's own view when the runtime has one (so it is right after a
restart); otherwise it is folded from the events this notifier has seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiomqtt

from monitor.config.notify import MqttNotifierConfig
from monitor.model import utc_now_ns

from .base import Notifier, register
from .message import Notification, fill, iso_utc

ActiveSource = Callable[[], Sequence[Mapping[str, Any]]]


def _tls_context(config: MqttNotifierConfig) -> ssl.SSLContext | None:
    if not config.tls:
        return None
    context = ssl.create_default_context(cafile=config.ca_file)
    if config.cert_file:
        context.load_cert_chain(config.cert_file, config.key_file)
    if config.tls_insecure:
        context.check_hostname = False
    return context


@register("mqtt")
class MqttNotifier(Notifier):
    config: MqttNotifierConfig

    def __init__(self, config: MqttNotifierConfig, *, site: str = "site",
                 active: ActiveSource | None = None) -> None:
        super().__init__(config)
        self.site = site
        self.active = active
        self.client_id = config.client_id or f"cm-notify-{socket.gethostname()}-{config.name}"
        self._client: aiomqtt.Client | None = None
        self._stale: aiomqtt.Client | None = None
        self._folded: dict[Any, dict[str, Any]] = {}

    async def deliver(self, event: Notification) -> None:
        if event.type == "event":
            self._fold(event.event)
        fields = {k: v or "-" for k, v in event.fields().items()}
        client = await self._connected()
        try:
            await client.publish(fill(self.config.topic, fields), event.body(),
                                 qos=self.config.qos)
            if self.config.summary_topic is not None:
                await client.publish(fill(self.config.summary_topic, fields),
                                     self.summary_body(), qos=self.config.qos, retain=True)
        except BaseException:
            self._stale, self._client = self._client, None  # reconnect on the next attempt
            raise

    def summary(self) -> list[dict[str, Any]]:
        if self.active is not None:
            return [dict(a) for a in self.active()]
        return sorted(self._folded.values(), key=lambda a: str(a.get("alarm_id")))

    def summary_body(self) -> bytes:
        alarms = self.summary()
        now = utc_now_ns()
        doc = {"site": self.site, "ts": iso_utc(now), "ts_ns": now, "count": len(alarms),
               "unacknowledged": sum(1 for a in alarms
                                     if a.get("state") in ("active_unack", "rtn_unack")),
               "alarms": alarms}
        return json.dumps(doc, separators=(",", ":"), sort_keys=True, default=str).encode()

    def _fold(self, event: Mapping[str, Any]) -> None:
        alarm = event.get("alarm_id")
        if alarm is None:
            return
        if event.get("state") in (None, "normal") or event.get("kind") == "retired":
            self._folded.pop(alarm, None)
            return
        known = self._folded.get(alarm, {})
        self._folded[alarm] = {
            **known,
            **{k: event.get(k) for k in ("alarm_id", "point", "location", "channel", "rule",
                                         "level", "priority", "state", "mode", "limit")},
            "raised_ns": known.get("raised_ns") or event.get("ts_ns"),
        }

    async def _connected(self) -> aiomqtt.Client:
        await self._close_stale()
        if self._client is None:
            cfg = self.config
            client = aiomqtt.Client(
                cfg.host, cfg.port, identifier=self.client_id, username=cfg.username,
                password=cfg.password.get_secret_value() if cfg.password else None,
                tls_context=_tls_context(cfg), timeout=10.0,
            )
            await client.__aenter__()
            self._client = client
        return self._client

    async def _close_stale(self) -> None:
        stale, self._stale = self._stale, None
        if stale is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(stale.__aexit__(None, None, None), 1.0)

    async def close(self) -> None:
        await self._close_stale()
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.__aexit__(None, None, None), 2.0)
