"""The one small interface every protocol driver implements, and their registry.

A driver owns one connection (a TCP socket, a serial bus, a gateway, a broker
session) and every device reached through it, because a physical bus can only
carry one request at a time. It turns what the devices say into ``Reading``s
and hands them to ``emit``; it never raises out of ``run`` for a device
problem: a failing device gets readings of quality ``comm_error`` and a
counter, and the driver keeps going.

Adding a protocol is one new module that subclasses ``Driver`` and decorates
it with ``@register("name")``; nothing else changes.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from monitor.config.devices import ChannelSpec, DeviceConfig, ProfileConfig
from monitor.model import Reading

Emit = Callable[[Sequence[Reading]], None]
"""Hand readings to the pipeline. Synchronous and cheap: it only queues."""


#: Upper bounds (seconds) of the poll-duration buckets every device keeps. Modbus TCP polls
#: on a LAN take a few ms; RTU at 9600 baud and timeouts take up to seconds.
POLL_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)


def _no_polls() -> list[int]:
    return [0] * (len(POLL_BUCKETS) + 1)


@dataclass
class DeviceStatus:
    """Live health of one device, read by the metrics collector and the health alarms.

    Poll durations are counted into fixed buckets in place (``poll_buckets[i]``
    polls took at most ``POLL_BUCKETS[i]`` and more than the bound before it;
    the last entry counts those above every bound), with their sum and number:
    the status of a device polled for a year is as small as on its first day,
    and nothing depends on /metrics being scraped.
    """

    name: str
    available: bool = False
    last_error: str | None = None
    last_success_ns: int | None = None
    polls: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # by kind: timeout, exception, ...
    overruns: int = 0  # poll ticks skipped because the previous poll was still running
    last_poll_seconds: float = 0.0
    poll_buckets: list[int] = field(default_factory=_no_polls)
    poll_seconds: float = 0.0  # sum of the durations counted in poll_buckets
    poll_count: int = 0

    def observe_poll(self, duration: float) -> None:
        self.last_poll_seconds = duration
        self.poll_buckets[bisect_left(POLL_BUCKETS, duration)] += 1
        self.poll_seconds += duration
        self.poll_count += 1

    def record_success(self, now_ns: int, duration: float) -> bool:
        """Returns True when this success ends an outage (log 'recovered' once)."""
        recovered = not self.available and self.polls > 0
        self.available, self.last_error, self.last_success_ns = True, None, now_ns
        self.polls += 1
        self.observe_poll(duration)
        return recovered

    def record_failure(self, kind: str, message: str, duration: float) -> bool:
        """Returns True when this failure starts an outage (log the failure once)."""
        first = self.available or self.polls == 0
        self.available, self.last_error = False, message
        self.polls += 1
        self.errors[kind] += 1
        self.observe_poll(duration)
        return first


@dataclass(frozen=True)
class DeviceBinding:
    """A device with its profile and its resolved (overridden) channels."""

    config: DeviceConfig
    profile: ProfileConfig
    channels: tuple[ChannelSpec, ...]

    @property
    def name(self) -> str:
        return self.config.name


class Driver(ABC):
    """One connection and the devices on it. Subclasses register with ``@register``."""

    names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, connection: Any, devices: Sequence[DeviceBinding], emit: Emit) -> None:
        self.connection = connection
        self.devices = list(devices)
        self.emit = emit
        self.status: dict[str, DeviceStatus] = {d.name: DeviceStatus(d.name) for d in devices}

    @abstractmethod
    async def run(self) -> None:
        """Poll or subscribe until cancelled. Must re-raise ``CancelledError``."""

    @classmethod
    def start_together(
        cls, drivers: Sequence[Self], group: asyncio.TaskGroup
    ) -> list[asyncio.Task[None]]:
        """Start a runtime's drivers of this class in ``group``; returns the tasks running them.

        The runtime cancels those tasks to stop the drivers (each must end within its
        ``TASK_STOP_TIMEOUT`` with its drivers cleaned up), counts them as pollers while
        none is done, and an error one of them raises ends ``group``. By default each
        driver's ``run`` is a task of its own, named ``driver:<connection>``. A class
        whose drivers are driven by shared timers and callbacks (Modbus) runs them all
        from one task instead of keeping a parked task per connection.
        """
        return [group.create_task(d.run(), name=f"driver:{d.label}") for d in drivers]

    @property
    def label(self) -> str:
        """The connection's name, for logs and task names."""
        return str(getattr(self.connection, "name", type(self).__name__))

    async def write_command(self, device: str, command: str, value: int) -> None:
        """Send a profile-defined command (start/stop sampling...). Optional."""
        raise NotImplementedError(f"{type(self).__name__} has no commands")


DRIVERS: dict[str, type[Driver]] = {}


def register(*names: str) -> Callable[[type[Driver]], type[Driver]]:
    """Class decorator: make a driver available under the connection ``driver:`` names."""

    def add(cls: type[Driver]) -> type[Driver]:
        for name in names:
            if name in DRIVERS:
                raise ValueError(f"driver {name!r} registered twice")
            DRIVERS[name] = cls
        cls.names = names
        return cls

    return add


def load_builtin_drivers() -> None:
    """Import the built-in driver modules so that their ``@register`` runs."""
    import monitor.drivers.modbus
    import monitor.drivers.mqtt  # noqa: F401
