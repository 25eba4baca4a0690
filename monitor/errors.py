"""The exception tree: one root so that callers can catch the project's errors only.

Library exceptions (pymodbus, aiomqtt, sqlite3, aiohttp) are translated at the
boundary with ``raise ... from err``; only the service supervisor catches
``Exception``.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(MonitorError):
    """The configuration is invalid; ``problems`` holds every ``FILE:LINE: field: message``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class DriverError(MonitorError):
    """A device or bus could not be talked to, or answered something unusable."""


class DeviceTimeout(DriverError):
    """A device did not answer within its timeout."""


class StoreError(MonitorError):
    """A store could not accept or return data."""


class AlarmError(MonitorError):
    """An alarm operation was refused (unknown alarm, wrong state, missing reason)."""


class AuthError(MonitorError):
    """Authentication or authorisation failed."""
