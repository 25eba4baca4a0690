"""The QA audit trail as the alarm service writes to it: optional, opened on first use.

Operator actions and clock steps are audit entries (``monitor.audit``) besides
their events in the alarm log; a service that never acts never opens the trail.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def audit_trail(data_dir: Path) -> Any:
    """The audit trail if ``monitor.audit`` is installed; opened on first use."""
    try:
        from monitor.audit import AuditTrail
    except ImportError:
        return None
    return LazyAudit(lambda: AuditTrail(data_dir))


class LazyAudit:
    """Opens the trail at the first entry: read-only views and idle services never touch it."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._trail: Any = None

    def record(self, user: str, action: str, obj: str, **kw: Any) -> Any:
        if self._trail is None:
            self._trail = self._factory()
        return self._trail.record(user, action, obj, **kw)

    def close(self) -> None:
        if self._trail is not None:
            self._trail.close()
            self._trail = None
