"""User management by admins over the API: every change audited, no delete, no self-lockout."""

from __future__ import annotations

import pytest

from monitor.audit import AuditTrail
from tests.api.daemon import PASSWORD, Daemon
from tests.api.helpers import audit_actions, audit_head, error_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

TEMP = "Temporary-Pass-77"


async def test_only_admins_manage_users_and_sessions_need_csrf(site: Daemon) -> None:
    head = audit_head(site.data_dir)
    for user in ("olivia", "erik", "quinn"):
        client, csrf = await site.login(user)
        async with client.get("/api/v1/users") as r:
            await error_of(r, 403, "forbidden")
        async with client.post("/api/v1/users/olivia/disable", json={"reason": "test"},
                               headers={"X-CSRF-Token": csrf}) as r:
            await error_of(r, 403, "forbidden")
    assert ("quinn", "access.denied", "http:GET /api/v1/users") in audit_actions(
        site.data_dir, head)
    admin, _csrf = await site.login("ada")
    async with admin.post("/api/v1/users/olivia/disable", json={"reason": "no csrf"}) as r:
        await error_of(r, 403, "csrf")
    async with admin.get("/api/v1/users") as r:
        users = {u["username"]: u for u in (await r.json())["users"]}
    assert set(users) >= {"olivia", "erik", "quinn", "ada"}
    assert users["quinn"]["roles"] == ["qa"]
    assert "password_hash" not in users["quinn"]
    assert users["quinn"]["disabled"] is False


async def test_create_change_roles_reset_disable_enable(site: Daemon) -> None:
    admin, csrf = await site.login("ada")
    headers = {"X-CSRF-Token": csrf}
    head = audit_head(site.data_dir)
    new = {"username": "nina", "full_name": "Nina New", "roles": ["operator"],
           "password": "zq7", "reason": "new starter"}
    async with admin.post("/api/v1/users", json=new, headers=headers) as r:
        body = await error_of(r, 422, "refused")
    assert "zq7" not in body["message"]  # the password is never echoed
    async with admin.post("/api/v1/users", json={**new, "roles": ["boss"]},
                          headers=headers) as r:
        await error_of(r, 422, "invalid_body")
    async with admin.post("/api/v1/users", json={**new, "password": TEMP},
                          headers=headers) as r:
        assert r.status == 201, await r.text()
        created = await r.json()
    assert created["must_change_password"] is True
    async with admin.post("/api/v1/users", json={**new, "password": TEMP},
                          headers=headers) as r:
        await error_of(r, 422, "refused")  # names are never reused
    async with site.client().post("/api/v1/session",
                                  json={"username": "nina", "password": TEMP}) as r:
        await error_of(r, 403, "password_change_required")

    async with admin.put("/api/v1/users/nina/roles", headers=headers,
                         json={"roles": ["operator", "engineer"], "reason": "covers shifts"}) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["roles"] == ["engineer", "operator"]
    async with admin.post("/api/v1/users/nina/password", headers=headers,
                          json={"password": "Another-Temp-88", "reason": "forgot it"}) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["must_change_password"] is True

    erik, _erik_csrf = await site.login("erik")
    token = site.token("erik")
    async with admin.post("/api/v1/users/erik/disable", headers=headers,
                          json={"reason": "left the company"}) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["disabled"] is True
    async with erik.get("/api/v1/session") as r:
        await error_of(r, 401)  # the session ended with the account
    async with site.client(headers={"Authorization": f"Bearer {token}"}).get(
            "/api/v1/site") as r:
        await error_of(r, 401, "unauthorized")
    async with site.client().post("/api/v1/session",
                                  json={"username": "erik", "password": PASSWORD}) as r:
        await error_of(r, 401, "login_failed")
    async with admin.post("/api/v1/users/erik/enable", headers=headers,
                          json={"reason": "rehired"}) as r:
        assert r.status == 200
        assert (await r.json())["disabled"] is False
    async with admin.post("/api/v1/users/erik/unlock", headers=headers,
                          json={"reason": "after the failed login"}) as r:
        assert r.status == 200

    actions = audit_actions(site.data_dir, head)
    for action, obj in [("user.added", "user:nina"), ("user.password_refused", "user:nina"),
                        ("user.roles_changed", "user:nina"),
                        ("user.password_changed", "user:nina"),
                        ("user.disabled", "user:erik"), ("user.enabled", "user:erik"),
                        ("user.unlocked", "user:erik")]:
        assert ("ada", action, obj) in actions, (action, actions)
    with AuditTrail(site.data_dir) as trail:
        disabled = trail.entries(action="user.disabled", after_seq=head)[-1]
        roles = trail.entries(action="user.roles_changed", after_seq=head)[-1]
    assert disabled.reason == "left the company"
    assert roles.old_value == ["operator"]
    assert roles.new_value == ["engineer", "operator"]


async def test_no_delete_no_self_lockout_unknown_users(site: Daemon) -> None:
    admin, csrf = await site.login("ada")
    headers = {"X-CSRF-Token": csrf}
    async with admin.delete("/api/v1/users/olivia", headers=headers) as r:
        await error_of(r, 405, "method_not_allowed")
    async with admin.post("/api/v1/users/ada/disable", headers=headers,
                          json={"reason": "oops"}) as r:
        await error_of(r, 422, "refused")
    async with admin.put("/api/v1/users/ada/roles", headers=headers,
                         json={"roles": ["qa"], "reason": "switch"}) as r:
        await error_of(r, 422, "refused")
    async with admin.post("/api/v1/users/ada/password", headers=headers,
                          json={"password": TEMP, "reason": "self"}) as r:
        await error_of(r, 422, "refused")
    async with admin.post("/api/v1/users/ghost/disable", headers=headers,
                          json={"reason": "who?"}) as r:
        await error_of(r, 404, "not_found")
    async with admin.post("/api/v1/users/olivia/disable", headers=headers, json={}) as r:
        await error_of(r, 422, "invalid_body")
    async with admin.get("/api/v1/openapi.json") as r:
        paths = (await r.json())["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/users"])
    assert "delete" not in paths["/api/v1/users/{username}"]
    assert "put" in paths["/api/v1/users/{username}/roles"]
    assert "post" in paths["/api/v1/qa/excursions/{excursion}/close"]
