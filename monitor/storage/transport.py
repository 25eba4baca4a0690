"""What an InfluxDB sink's transport does, and how its failures are classified.

A transport only sends a body of line protocol and says how it went. The
outbox (``monitor.storage.forwarder``) decides what follows from the answer:

* success (2xx): the readings are acknowledged and leave the outbox;
* ``Rejected`` (400, 413, 422: the server refuses these points as data): the
  batch is split until the bad point is alone, and that point is quarantined
  with the server's message so it cannot block the queue;
* ``Unavailable`` (no connection, timeout, 401/403/404, 429, 5xx): the same
  batch is retried with capped exponential backoff and jitter, honouring a
  ``Retry-After`` header. Wrong credentials or a missing database are not the
  points' fault, so they never quarantine data.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from monitor.errors import StoreError

REJECTING_STATUSES = frozenset({400, 413, 422})


class SendError(StoreError):
    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class Rejected(SendError):
    """The server refused the points themselves; retrying the same body cannot help."""


class Unavailable(SendError):
    """The server could not take the points now; retry later."""


def classify(status: int, message: str, retry_after: str | None) -> SendError:
    delay: float | None = None
    if retry_after:
        try:
            delay = max(0.0, float(retry_after))
        except ValueError:
            delay = None
    text = f"HTTP {status}: {message.strip()[:500]}"
    if status in REJECTING_STATUSES:
        return Rejected(text, status=status)
    return Unavailable(text, status=status, retry_after=delay)


class Transport(ABC):
    """One InfluxDB endpoint; ``send`` returns on 2xx and raises ``SendError`` otherwise."""

    kind: str = "influxdb"

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url

    @abstractmethod
    async def send(self, body: bytes) -> None: ...

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the transport may be used again afterwards."""
