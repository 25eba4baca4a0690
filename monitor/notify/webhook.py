"""Webhook notifier: a signed JSON POST per event.

The body is ``Notification.body()``; ``X-Cleanroom-Signature`` is
``sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`` with the
timestamp sent in ``X-Cleanroom-Timestamp`` (Unix seconds), so that a receiver
can check both who sent it and that it is not a replay. A 2xx answer is a
delivery; 408, 425, 429 and 5xx are retried; other 4xx answers will not get
better and are given up at once.
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
import time
from typing import Any

import aiohttp

from monitor import __version__
from monitor.config.notify import WebhookNotifierConfig

from .base import Notifier, PermanentDeliveryError, register
from .message import Notification

SIGNATURE_HEADER = "X-Cleanroom-Signature"
TIMESTAMP_HEADER = "X-Cleanroom-Timestamp"
_RETRYABLE = frozenset({408, 425, 429})


class WebhookError(Exception):
    """The receiver answered with a status worth retrying."""


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body,
                                hashlib.sha256).hexdigest()


@register("webhook")
class WebhookNotifier(Notifier):
    config: WebhookNotifierConfig

    def __init__(self, config: WebhookNotifierConfig, **_: Any) -> None:
        super().__init__(config)
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | bool = True
        if config.ca_file:
            self._ssl = ssl.create_default_context(cafile=config.ca_file)
        elif not config.verify_tls:
            self._ssl = False

    async def deliver(self, event: Notification) -> None:
        body = event.body()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"cleanroom-monitor/{__version__}",
            "X-Cleanroom-Notification": event.id,
            "X-Cleanroom-Type": event.type,
            "X-Cleanroom-Event": str(event.event.get("kind", "")),
            TIMESTAMP_HEADER: timestamp,
            **self.config.headers,
        }
        if self.config.secret is not None:
            key = self.config.secret.get_secret_value().encode()
            headers[SIGNATURE_HEADER] = sign(key, timestamp, body)
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.post(self.config.url, data=body, headers=headers,
                                      ssl=self._ssl, allow_redirects=False) as response:
            if 200 <= response.status < 300:
                return
            text = (await response.text(errors="replace"))[:200]
            message = f"HTTP {response.status} from {self.config.url}: {text}"
            if response.status >= 500 or response.status in _RETRYABLE:
                raise WebhookError(message)
            raise PermanentDeliveryError(message)

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
