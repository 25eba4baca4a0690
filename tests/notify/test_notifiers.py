"""Each notifier against a real receiver: Mosquitto, an aiohttp server, aiosmtpd."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiomqtt

from monitor.notify.attach import build_notifiers
from monitor.notify.dispatcher import Dispatcher
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.smtp import SmtpServer
from tests.notify.kit import dispatching, event, notify_config, webhook_receiver


async def _retained(broker: Mosquitto, topic: str) -> dict[str, Any]:
    """What a client connecting now gets on ``topic`` (the retained message)."""
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topic, qos=1)
        async with asyncio.timeout(5):
            async for message in client.messages:
                assert message.retain
                return dict(json.loads(message.payload))  # type: ignore[arg-type]
    raise AssertionError("no retained message")


async def test_mqtt_event_and_retained_summary(mosquitto: Mosquitto) -> None:
    config = notify_config([{
        "name": "scada", "kind": "mqtt", "host": mosquitto.host, "port": mosquitto.port,
        "topic": "cleanroom/{site}/alarms/{location}/{kind}",
    }])
    dispatcher = Dispatcher(config, build_notifiers(config, site="plant-a"), site="plant-a")
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as subscriber, \
            dispatching(dispatcher):
        await subscriber.subscribe("cleanroom/plant-a/alarms/+/raised", qos=1)
        dispatcher([event(1, "raised", alarm_id=7), event(2, "raised", alarm_id=8)])
        got: list[tuple[str, dict[str, Any]]] = []
        async with asyncio.timeout(20):
            async for message in subscriber.messages:
                got.append((str(message.topic), json.loads(message.payload)))  # type: ignore[arg-type]
                if len(got) == 2:
                    break
            while dispatcher.notifiers["scada"].delivered < 2:  # the summaries follow
                await asyncio.sleep(0.01)
        assert [t for t, _ in got] == ["cleanroom/plant-a/alarms/fill-b-1/raised"] * 2
        doc = got[0][1]
        assert doc["type"] == "event"
        assert doc["site"] == "plant-a"
        assert [d["event"]["id"] for _, d in got] == ["ev-1", "ev-2"]
        assert doc["event"]["channel"] == "pc1/particles_0_5um"
        summary = await _retained(mosquitto, "cleanroom/plant-a/alarms/active")
        assert summary["count"] == 2
        assert summary["unacknowledged"] == 2
        assert sorted(a["alarm_id"] for a in summary["alarms"]) == [7, 8]

        dispatcher([event(3, "acknowledged", alarm_id=7, state="active_ack", user="qa1",
                          reason="checked"),
                    event(4, "cleared", alarm_id=8, state="rtn_unack")])
        async with asyncio.timeout(20):
            while dispatcher.notifiers["scada"].delivered < 4:
                await asyncio.sleep(0.01)
        summary = await _retained(mosquitto, "cleanroom/plant-a/alarms/active")
        assert (summary["count"], summary["unacknowledged"]) == (2, 1)
        dispatcher([event(5, "cleared", alarm_id=7, state="normal"),
                    event(6, "acknowledged", alarm_id=8, state="normal", user="qa1",
                          reason="door left open")])
        async with asyncio.timeout(20):
            while dispatcher.notifiers["scada"].delivered < 6:
                await asyncio.sleep(0.01)
        summary = await _retained(mosquitto, "cleanroom/plant-a/alarms/active")
        assert summary["count"] == 0


async def test_mqtt_summary_comes_from_the_engine_when_there_is_one(
    mosquitto: Mosquitto,
) -> None:
    class Engine:
        def active(self) -> list[dict[str, Any]]:
            return [{"alarm_id": 41, "state": "active_unack", "point": "dp1/dp:low"}]

    config = notify_config([{"name": "scada", "kind": "mqtt", "host": mosquitto.host,
                             "port": mosquitto.port}])
    notifiers = build_notifiers(config, site="plant-a", alarms=Engine())
    async with dispatching(Dispatcher(config, notifiers, site="plant-a")) as dispatcher:
        dispatcher([event(1, "raised", alarm_id=1)])
        async with asyncio.timeout(10):
            while notifiers["scada"].delivered < 1:
                await asyncio.sleep(0.01)
    summary = await _retained(mosquitto, "cleanroom/plant-a/alarms/active")
    assert [a["alarm_id"] for a in summary["alarms"]] == [41]


async def test_webhook_is_signed_and_retried_on_5xx() -> None:
    async with webhook_receiver(statuses=[503, 500]) as receiver:
        config = notify_config([{"name": "qa", "kind": "webhook", "url": receiver.url,
                                 "secret": "webhook-secret", "headers": {"X-Site": "a"}}])
        notifiers = build_notifiers(config, site="plant-a")
        async with dispatching(Dispatcher(config, notifiers, site="plant-a")) as dispatcher:
            dispatcher([event(1, "raised")])
            hit, = await receiver.wait_accepted(1)
            # leave only once the notifier has seen the 200: stopping while the reply is
            # in flight makes the shutdown's last attempt deliver it again (at-least-once)
            async with asyncio.timeout(10):
                while notifiers["qa"].delivered < 1:
                    await asyncio.sleep(0.01)
        assert len(receiver.hits) == 3  # two refusals, then accepted
        assert all(receiver.signature_ok(h) for h in receiver.hits)
        assert hit.headers["X-Cleanroom-Notification"] == "ev-1"
        assert hit.headers["X-Site"] == "a"
        assert hit.json["event"]["kind"] == "raised"
        assert (notifiers["qa"].delivered, notifiers["qa"].failures) == (1, 2)

        tampered = hit.body.replace(b"raised", b"cleared")
        forged = type(hit)(hit.headers, tampered)
        assert not receiver.signature_ok(forged)


async def test_webhook_4xx_is_given_up_at_once() -> None:
    async with webhook_receiver(statuses=[400]) as receiver:
        config = notify_config([{"name": "qa", "kind": "webhook", "url": receiver.url}])
        notifiers = build_notifiers(config, site="plant-a")
        async with dispatching(Dispatcher(config, notifiers, site="plant-a")) as dispatcher:
            dispatcher([event(1, "raised"), event(2, "cleared", state="rtn_unack")])
            await receiver.wait_accepted(1)
            assert dispatcher.lanes["qa"].given_up == 1
        assert [h.json["event"]["id"] for h in receiver.hits] == ["ev-1", "ev-2"]
        assert "X-Cleanroom-Signature" not in receiver.hits[0].headers  # no secret, no signature


async def test_email_reaches_a_real_smtp_server(smtp_server: SmtpServer) -> None:
    config = notify_config([{
        "name": "oncall", "kind": "email", "host": smtp_server.host, "port": smtp_server.port,
        "security": "none", "sender": "monitor@plant-a.example",
        "recipients": ["oncall@plant-a.example", "qa@plant-a.example"],
    }])
    smtp_server.refuse_next(1)  # a temporary failure first: retried
    notifiers = build_notifiers(config, site="plant-a")
    async with dispatching(Dispatcher(config, notifiers, site="plant-a")) as dispatcher:
        dispatcher([event(1, "raised", priority="critical")])
        mail, = await smtp_server.wait_for(1)
    assert smtp_server.refused == 1
    assert mail.sender == "monitor@plant-a.example"
    assert mail.recipients == ["oncall@plant-a.example", "qa@plant-a.example"]
    message = mail.message
    assert message["Subject"] == "[critical] plant-a fill-b-1: pc1/particles_0_5um raised"
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Value:     400000.0 (limit 352000.0)" in text
    assert "Time:      2026-01-01T00:00:00Z" in text
    attachment, = list(message.iter_attachments())
    assert json.loads(attachment.get_content())["event"]["id"] == "ev-1"
