"""Small assertions shared by the API tests."""

from __future__ import annotations

from typing import Any

import aiohttp

from monitor.audit import AuditTrail
from tests.api.daemon import DP_ALARM, PASSWORD, Daemon


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


async def finished_excursion(site: Daemon) -> int:
    """Raise the DP action alarm, acknowledge it, let it return and reset it (as an
    operator); the excursion's id."""
    alarm = await site.dp_alarm()
    client, csrf = await site.login("olivia")
    url = f"/api/v1/alarms/{alarm.alarm_id}/acknowledge"
    async with client.post(url, json={"reason": "door held open", "password": PASSWORD},
                           headers={"X-CSRF-Token": csrf}) as r:
        assert r.status == 200, await r.text()
    site.force_dp(None)
    await site.wait_for(lambda: any(a.point == DP_ALARM and a.state == "rtn_unack"
                                    for a in site.runtime.alarms.active()), what="rtn_unack")
    async with client.post(url, json={"reason": "pressure back", "password": PASSWORD},
                           headers={"X-CSRF-Token": csrf}) as r:
        assert r.status == 200, await r.text()
    return int(alarm.alarm_id)
