"""A failing or hanging notifier is retried and counted and never holds up anything else."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from aiohttp import web

from monitor.notify.attach import build_notifiers
from monitor.notify.dispatcher import Dispatcher
from tests.fixtures.ports import free_port
from tests.fixtures.smtp import SmtpServer
from tests.notify.kit import dispatching, event, notify_config, webhook_receiver


async def test_failing_and_hanging_notifiers_do_not_block_the_others(
    smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="monitor.notify")
    hang = asyncio.Event()

    async def hanging(_: web.Request) -> web.Response:
        await hang.wait()
        return web.Response(text="late")

    app = web.Application()
    app.router.add_post("/hang", hanging)
    runner = web.AppRunner(app)
    await runner.setup()
    hang_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", hang_port).start()
    dead_port = free_port()  # nothing listens here
    try:
        async with webhook_receiver(statuses=[503] * 4) as flaky, webhook_receiver() as healthy:
            config = notify_config(
                [
                    {"name": "flaky", "kind": "webhook", "url": flaky.url},
                    {"name": "healthy", "kind": "webhook", "url": healthy.url},
                    {"name": "hanging", "kind": "webhook",
                     "url": f"http://127.0.0.1:{hang_port}/hang",
                     "retry": {"initial": "20ms", "max": "50ms", "max_attempts": 2,
                               "timeout": "300ms"}},
                    {"name": "dead-mail", "kind": "email", "host": "127.0.0.1",
                     "port": dead_port, "security": "none", "sender": "m@x.example",
                     "recipients": ["o@x.example"]},
                    {"name": "mail", "kind": "email", "host": smtp_server.host,
                     "port": smtp_server.port, "security": "none", "sender": "m@x.example",
                     "recipients": ["o@x.example"]},
                ],
                retry={"initial": "20ms", "max": "80ms", "max_attempts": 6, "timeout": "2s"},
            )
            notifiers = build_notifiers(config, site="plant-a")
            dispatcher = Dispatcher(config, notifiers, site="plant-a")
            async with dispatching(dispatcher):
                started = time.perf_counter()
                dispatcher([event(1, "raised"), event(2, "raised", alarm_id=2),
                            event(3, "cleared", state="rtn_unack")])
                assert time.perf_counter() - started < 0.05, "the listener only queues"

                await healthy.wait_accepted(3)
                await smtp_server.wait_for(3)
                assert len(flaky.accepted()) < 3, "the flaky one is still retrying its first"
                await flaky.wait_accepted(3)
                async with asyncio.timeout(10):
                    while dispatcher.lanes["dead-mail"].given_up < 3 or \
                            dispatcher.lanes["hanging"].given_up < 3:
                        await asyncio.sleep(0.02)
            hang.set()
    finally:
        await runner.cleanup()

    stats = dispatcher.stats()
    assert stats["healthy"] == {"queued": 0, "delivered": 3, "failures": 0, "attempts": 3,
                                "given_up": 0, "dropped": 0}
    assert stats["flaky"]["delivered"] == 3
    assert stats["flaky"]["failures"] == 4
    assert stats["dead-mail"]["failures"] == 3 * 6
    assert stats["hanging"]["failures"] == 3 * 2  # timed out, not waited for
    assert [h.json["event"]["id"] for h in flaky.accepted()] == ["ev-1", "ev-2", "ev-3"]

    # every attempt is in the log, with its notifier, notification and attempt number
    failed = [r for r in caplog.records if r.getMessage() == "notification attempt failed"]
    delivered = [r for r in caplog.records if r.getMessage() == "notification delivered"]
    assert len(failed) == sum(s["failures"] for s in stats.values())
    assert len(delivered) == sum(s["delivered"] for s in stats.values())
    first = next(r for r in failed if r.fields["notifier"] == "flaky")  # type: ignore[attr-defined]
    assert first.fields["attempt"] == 1  # type: ignore[attr-defined]
    assert first.fields["notification"] == "ev-1"  # type: ignore[attr-defined]
    assert "503" in first.fields["error"]  # type: ignore[attr-defined]


async def test_routes_pick_events_and_notifiers() -> None:
    async with webhook_receiver() as ops, webhook_receiver() as qa:
        config = notify_config(
            [{"name": "ops", "kind": "webhook", "url": ops.url},
             {"name": "qa", "kind": "webhook", "url": qa.url}],
            routes=[
                {"name": "urgent", "notifiers": ["ops", "qa"], "priorities": ["critical"]},
                {"name": "fill", "notifiers": ["qa"], "locations": ["fill-b-1"],
                 "kinds": ["raised"]},
            ],
        )
        dispatcher = Dispatcher(config, build_notifiers(config, site="s"), site="s")
        async with dispatching(dispatcher):
            dispatcher([
                event(1, "raised", priority="critical", location="other"),  # urgent
                event(2, "raised", priority="low"),  # fill
                event(3, "cleared", priority="low", state="rtn_unack"),  # nobody
                event(4, "raised", priority="critical"),  # both routes; qa gets it once
                event(5, "raised", priority="critical", mode="shelved"),  # not annunciated
            ])
            await qa.wait_accepted(3)
            await ops.wait_accepted(2)
            await asyncio.sleep(0.1)
    assert [h.json["event"]["id"] for h in ops.accepted()] == ["ev-1", "ev-4"]
    assert [h.json["event"]["id"] for h in qa.accepted()] == ["ev-1", "ev-2", "ev-4"]
    assert [h.json["route"] for h in qa.accepted()] == ["urgent", "fill", "urgent"]


async def test_full_queue_drops_the_oldest_and_counts_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = notify_config([{"name": "q", "kind": "webhook",
                             "url": f"http://127.0.0.1:{free_port()}/x"}], queue_size=10)
    dispatcher = Dispatcher(config, build_notifiers(config, site="s"), site="s")
    dispatcher([event(i, "raised", alarm_id=i) for i in range(1, 16)])  # no worker running
    lane = dispatcher.lanes["q"]
    assert (len(lane.queue), lane.dropped) == (10, 5)
    assert lane.queue[0].id == "ev-6"
    caplog.set_level(logging.INFO, logger="monitor.notify")
    await dispatcher.close(grace=0.5)  # one last attempt each: nobody listens there
    assert (lane.given_up, lane.dropped, len(lane.queue)) == (10, 5, 0)
    given_up = [r for r in caplog.records if r.getMessage() == "notification given up"]
    assert len(given_up) == 10
