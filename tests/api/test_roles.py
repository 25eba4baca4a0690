"""Every state-changing endpoint against every role: allowed, or 403 audited and no change.

operator: acknowledge. engineer: acknowledge, shelve, maintenance, location state.
qa: acknowledge. admin: none of these (segregation of duties).
"""

from __future__ import annotations

import pytest

from tests.api.daemon import PASSWORD, Daemon
from tests.api.helpers import audit_actions, audit_head, error_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROLES = {"olivia": "operator", "erik": "engineer", "quinn": "qa", "ada": "admin"}
ALLOWED = {
    "state": {"erik"},
    "maintenance": {"erik"},
    "shelve": {"erik"},
    "acknowledge": {"olivia", "erik", "quinn"},
}


def _snapshot(site: Daemon) -> tuple[object, ...]:
    alarms = site.runtime.alarms
    return (alarms.location_states()["corr-1"]["state"], dict(alarms.engine.maintenance),
            sorted((p.key, str(p.state), str(p.mode), p.shelved_until)
                   for p in alarms.engine.t.points.values()))


@pytest.mark.parametrize("user", sorted(ROLES))
async def test_role_boundaries(site: Daemon, user: str) -> None:
    client, csrf = await site.login(user)
    headers = {"X-CSRF-Token": csrf}
    requests = {
        "state": ("/api/v1/locations/corr-1/state",
                  {"state": "at_rest", "reason": "cleaning shift", "duration": "5m"}),
        "maintenance": ("/api/v1/maintenance",
                        {"target": "th1", "on": True, "reason": "sensor swap", "duration": "5m"}),
        "shelve": ("/api/v1/alarms/th1%2Ftemperature:high_action/shelve",
                   {"reason": "probe being replaced", "duration": "30m"}),
    }
    for name, (url, body) in requests.items():
        head = audit_head(site.data_dir)
        before = _snapshot(site)
        async with client.post(url, json=body, headers=headers) as r:
            if user in ALLOWED[name]:
                assert r.status == 200, (name, await r.text())
                assert _snapshot(site) != before, name
            else:
                error = await error_of(r, 403, "forbidden")
                assert ROLES[user] in error["message"]
                assert _snapshot(site) == before, name
                denied = [e for e in audit_actions(site.data_dir, head)
                          if e[1] == "access.denied"]
                assert denied == [(user, "access.denied", f"http:POST {url.replace('%2F', '/')}")]
    # undo what the engineer did, for the next parametrised user
    if user == "erik":
        for url, body in (
            ("/api/v1/locations/corr-1/state", {"state": "auto", "reason": "end of test"}),
            ("/api/v1/maintenance", {"target": "th1", "on": False, "reason": "end of test"}),
            ("/api/v1/alarms/th1%2Ftemperature:high_action/unshelve", {"reason": "end of test"}),
        ):
            async with client.post(url, json=body, headers=headers) as r:
                assert r.status == 200, await r.text()


async def test_acknowledge_boundary(site: Daemon) -> None:
    alarm = await site.dp_alarm()
    ada, ada_csrf = await site.login("ada")
    head = audit_head(site.data_dir)
    async with ada.post(f"/api/v1/alarms/{alarm.alarm_id}/acknowledge",
                        json={"reason": "admins may not", "password": PASSWORD},
                        headers={"X-CSRF-Token": ada_csrf}) as r:
        await error_of(r, 403, "forbidden")
    assert ("ada", "access.denied",
            f"http:POST /api/v1/alarms/{alarm.alarm_id}/acknowledge") in audit_actions(
                site.data_dir, head)
    still = [a for a in site.runtime.alarms.active() if a.alarm_id == alarm.alarm_id]
    assert still[0].state == "active_unack"
    anonymous = site.client()
    async with anonymous.post(f"/api/v1/alarms/{alarm.alarm_id}/acknowledge",
                              json={"reason": "who am I", "password": PASSWORD}) as r:
        await error_of(r, 401, "unauthorized")
    quinn, quinn_csrf = await site.login("quinn")
    async with quinn.post(f"/api/v1/alarms/{alarm.alarm_id}/acknowledge",
                          json={"reason": "QA saw the door open", "password": PASSWORD},
                          headers={"X-CSRF-Token": quinn_csrf}) as r:
        assert r.status == 200, await r.text()
    site.force_dp(None)
