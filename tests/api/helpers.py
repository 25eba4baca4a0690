"""Small assertions shared by the API tests."""

from __future__ import annotations

from typing import Any

import aiohttp

from monitor.audit import AuditTrail


async def error_of(response: aiohttp.ClientResponse, status: int,
                   code: str | None = None) -> dict[str, Any]:
    """Assert a JSON error answer with ``status`` (and ``code``); return its body."""
    assert response.content_type == "application/json", await response.text()
    body: dict[str, Any] = await response.json()
    assert response.status == status, body
    assert set(body) <= {"error", "message", "details"}, body
    assert isinstance(body["message"], str)
    assert body["message"]
    if code is not None:
        assert body["error"] == code, body
    return body


def audit_actions(data_dir: Any, since_seq: int = 0) -> list[tuple[str, str, str]]:
    """``(user, action, object)`` of the audit entries after ``since_seq``."""
    with AuditTrail(data_dir) as trail:
        return [(e.user, e.action, e.object) for e in trail.entries() if e.seq > since_seq]


def audit_head(data_dir: Any) -> int:
    with AuditTrail(data_dir) as trail:
        return trail.head()[0]
