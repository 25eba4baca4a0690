"""A notifier's library that swallows a cancellation must not keep the dispatcher running.

On Python 3.11 ``asyncio.wait_for`` returns the result instead of raising
CancelledError when the awaited future completes in the same loop iteration as
the cancel (CPython gh-86296), and aiosmtplib waits for each SMTP reply that
way. The first test sets up exactly that ordering against a real aiosmtpd
server: the reply to DATA is held by the server, released, and the test blocks
its own loop until the reply is in the client's socket before it cancels the
dispatcher, so the cancel and the reply are processed in the same iteration.
Before the fix the e-mail worker went back to waiting for work and the
dispatcher's shutdown hung (the intermittent hang of test_escalation.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from monitor.notify.attach import build_notifiers
from monitor.notify.base import Notifier
from monitor.notify.dispatcher import Dispatcher
from tests.fixtures.ports import free_port
from tests.notify.kit import event, notify_config

SWALLOWED = "cancellation swallowed by a notifier, re-raised"


class HeldReply:
    """aiosmtpd handler: records a message, then holds its ``250`` until ``release``."""

    def __init__(self) -> None:
        self.messages = 0
        self.got_data = threading.Event()
        self.release = threading.Event()
        self.replied = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages += 1
        self.got_data.set()
        while not self.release.is_set():
            await asyncio.sleep(0.002)
        # runs after aiosmtpd has written the reply: it writes in the same step as we return
        asyncio.get_running_loop().call_soon(self.replied.set)
        return "250 OK"


async def _stopped(run: asyncio.Task[None], what: str) -> None:
    # asyncio.wait, not a timeout around ``await run``: that would cancel ``run`` again
    await asyncio.wait([run], timeout=5)
    if not run.done():
        pytest.fail(f"the dispatcher did not stop when cancelled: {what}")
    assert run.cancelled()


async def test_cancel_arriving_with_the_smtp_reply_still_stops_the_worker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="monitor.notify")
    handler = HeldReply()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        config = notify_config([{"name": "mail", "kind": "email", "host": "127.0.0.1",
                                 "port": controller.port, "security": "none",
                                 "sender": "m@plant.example", "recipients": ["qa@plant.example"]}])
        dispatcher = Dispatcher(config, build_notifiers(config, site="s"), site="s")
        run = asyncio.create_task(dispatcher.run())
        dispatcher([event(1, "raised")])
        async with asyncio.timeout(10):
            while not handler.got_data.is_set():
                await asyncio.sleep(0.005)
        # the client now waits in aiosmtplib's wait_for for the reply to DATA
        handler.release.set()
        # blocking on purpose: this loop must not read the reply before the cancel is made;
        # once written to the loopback socket the reply is readable at once
        assert handler.replied.wait(10), "the SMTP server never answered"
        run.cancel()
        await _stopped(run, "the e-mail library swallowed the cancel")
        await dispatcher.close()
    finally:
        controller.stop()
    if sys.version_info < (3, 12):  # 3.12 rebuilt wait_for on asyncio.timeout: no swallowing
        assert [r for r in caplog.records if r.getMessage() == SWALLOWED], \
            "the race was not reproduced: the cancel was not swallowed this time"
    stats = dispatcher.stats()["mail"]
    assert (stats["delivered"], stats["queued"], stats["dropped"]) == (1, 0, 0)
    assert handler.messages == 1, "a delivered e-mail is not sent again at shutdown"


class CancelToError(Notifier):
    """A library that turns the cancel of a send into its own error, then works again."""

    kind = "test-cancel-to-error"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.calls = 0

    async def deliver(self, event: Any) -> None:
        self.calls += 1
        if self.calls > 1:
            return
        try:
            await asyncio.Event().wait()  # a send that hangs until cancelled
        except asyncio.CancelledError:
            raise ConnectionResetError("connection closed while sending") from None


async def test_cancel_turned_into_an_error_is_not_retried() -> None:
    config = notify_config([{"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/"}])
    notifier = CancelToError(config.notifiers[0])
    dispatcher = Dispatcher(config, {"hook": notifier}, site="s")
    run = asyncio.create_task(dispatcher.run())
    dispatcher([event(1, "raised")])
    async with asyncio.timeout(10):
        while notifier.calls == 0:
            await asyncio.sleep(0.005)
    run.cancel()
    await _stopped(run, "the cancel became an error and the worker retried")
    assert notifier.calls == 1, "no retry after the cancel"
    assert dispatcher.stats()["hook"]["queued"] == 1, "not delivered: still queued"
    await dispatcher.close()  # its one last attempt at shutdown delivers it
    assert dispatcher.stats()["hook"] == {"queued": 0, "delivered": 1, "failures": 1,
                                          "attempts": 2, "given_up": 0, "dropped": 0}


class SwallowsCancel(Notifier):
    """A library that returns normally when cancelled (as if it had delivered)."""

    kind = "test-swallows-cancel"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.calls = 0

    async def deliver(self, event: Any) -> None:
        self.calls += 1
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3)


async def test_close_keeps_its_grace_when_a_notifier_swallows_the_timeout() -> None:
    config = notify_config([{"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/"}])
    notifier = SwallowsCancel(config.notifiers[0])
    dispatcher = Dispatcher(config, {"hook": notifier}, site="s")
    dispatcher([event(i, "raised", alarm_id=i) for i in (1, 2, 3)])  # no worker running
    started = time.monotonic()
    await dispatcher.close(grace=0.2)
    assert time.monotonic() - started < 1.5, "close() outlived its grace"
    assert notifier.calls == 1
    assert dispatcher.stats()["hook"]["dropped"] == 2, "the rest are reported undelivered"
