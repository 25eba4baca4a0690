"""What every notifier implements, and their registry.

A notifier delivers alarm events somewhere (MQTT, webhook, e-mail). It runs on
its own queue: a slow or failing notifier never blocks alarm evaluation or the
other notifiers; failures are counted and retried.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

NOTIFIERS: dict[str, type[Notifier]] = {}


class PermanentDeliveryError(Exception):
    """The receiver refused the notification for good (e.g. HTTP 400): do not retry it."""


class Notifier(ABC):
    kind: ClassVar[str] = ""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.delivered = 0
        self.failures = 0
        #: UTC ns of the first failed attempt since the last delivery (None: the last attempt
        #: delivered), and what failed: read by the alarm engine's system health checks
        self.failing_since_ns: int | None = None
        self.last_error: str | None = None

    @property
    def name(self) -> str:
        return str(getattr(self.config, "name", self.kind))

    @abstractmethod
    async def deliver(self, event: Any) -> None:
        """Deliver one alarm event or raise; the caller retries with backoff."""

    async def close(self) -> None:  # noqa: B027
        """Release connections."""


def register(kind: str) -> Callable[[type[Notifier]], type[Notifier]]:
    def add(cls: type[Notifier]) -> type[Notifier]:
        if kind in NOTIFIERS:
            raise ValueError(f"notifier {kind!r} registered twice")
        cls.kind = kind
        NOTIFIERS[kind] = cls
        return cls

    return add
