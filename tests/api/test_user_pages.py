"""The admin's account pages over real HTTP: list, add, roles, reset, disable/enable, unlock.

Each form runs the API's own route: only admins, CSRF token required, the
API's refusals (weak password, reused name, self-lockout) and exactly the
API's audit entries, with the admin as the actor and the reason recorded.
"""

from __future__ import annotations

import re

import aiohttp
import pytest

from monitor.audit import AuditTrail
from tests.api.daemon import PASSWORD, Daemon
from tests.api.helpers import audit_actions, audit_head
from tests.api.test_qa_pages import page, post

pytestmark = pytest.mark.asyncio(loop_scope="module")

TEMP = "Temporary-Pass-77"


async def test_only_admins_see_and_change_accounts(site: Daemon) -> None:
    head = audit_head(site.data_dir)
    for user in ("olivia", "erik", "quinn"):
        client, csrf = await site.login(user)
        body = await page(client, "/users", 403)
        assert "may not manage users" in body
        assert 'href="/users"' not in body  # not offered in the nav either
        _, body = await post(client, "/users/olivia/disable",
                             {"reason": "test", "csrf_token": csrf}, 403)
        await post(client, "/users", {"username": "x", "full_name": "X", "roles": "qa",
                                      "password": TEMP, "password2": TEMP,
                                      "csrf_token": csrf}, 403)
    denied = audit_actions(site.data_dir, head)
    for user in ("olivia", "erik", "quinn"):
        assert (user, "access.denied", "http:GET /users") in denied
        assert (user, "access.denied", "http:POST /users/olivia/disable") in denied
        assert (user, "access.denied", "http:POST /users") in denied
    anonymous = site.client(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with anonymous.get("/users", allow_redirects=False) as r:
        assert r.status == 303
        assert r.headers["Location"].startswith("/login?next=")

    admin, _csrf = await site.login("ada")
    listing = await page(admin, "/users")
    assert 'href="/users" class="active"' in listing
    for name in ("olivia", "erik", "quinn", "ada"):
        assert f'<tr id="user-{name}" data-disabled="false">' in listing
    assert "Quinn Quality" in listing
    assert "password_hash" not in listing
    assert "/delete" not in listing  # accounts are never deleted: no such form
    head = audit_head(site.data_dir)
    _, body = await post(admin, "/users/olivia/disable", {"reason": "no token"}, 403)
    assert "CSRF" in body
    assert audit_actions(site.data_dir, head) == [
        ("ada", "access.denied", "http:POST /users/olivia/disable")]
    assert not site.runtime.extras["users"].get("olivia").disabled


async def test_add_user_set_roles_and_reset_password(site: Daemon) -> None:
    admin, csrf = await site.login("ada")
    head = audit_head(site.data_dir)
    new = [("username", "nina"), ("full_name", "Nina New"), ("roles", "operator"),
           ("reason", "new starter"), ("csrf_token", csrf)]

    async def add(password: str, repeat: str, status: int) -> tuple[str, str]:
        async with admin.post("/users", data=[*new, ("password", password),
                                              ("password2", repeat)],
                              allow_redirects=False) as r:
            text = await r.text()
            assert r.status == status, text[:3000]
            return r.headers.get("Location", ""), text

    _, body = await add("zq7", "zq7", 422)  # the password rules of the user store
    assert "zq7" not in body  # never echoed
    assert 'value="Nina New"' in body  # the rest of the form is kept
    _, body = await add(TEMP, TEMP + "x", 422)
    assert "The two passwords differ" in body
    where, _ = await add(TEMP, TEMP, 303)
    assert where == "/users/nina?done=added"
    shown = await page(admin, where)
    assert "Account created with a temporary password" in shown
    assert "must change password" in shown
    _, body = await add(TEMP, TEMP, 422)
    assert "nina" in body  # names are never reused

    where, _ = await post(admin, "/users/nina/roles", {"roles": "engineer", "reason": "x",
                                                        "csrf_token": csrf}, 422)
    async with admin.post("/users/nina/roles", data=[
            ("roles", "operator"), ("roles", "engineer"), ("reason", "covers shifts"),
            ("csrf_token", csrf)], allow_redirects=False) as r:
        assert r.status == 303, await r.text()
    shown = await page(admin, "/users/nina?done=roles")
    assert "<dt>Roles</dt><dd>engineer, operator</dd>" in shown
    _, body = await post(admin, "/users/nina/roles", {"reason": "none", "csrf_token": csrf},
                         422)
    assert "roles:" in body

    _, body = await post(admin, "/users/nina/password", {
        "password": "Another-Temp-88", "password2": "Another-Temp-89", "reason": "forgot it",
        "csrf_token": csrf}, 422)
    assert "The two passwords differ" in body
    where, _ = await post(admin, "/users/nina/password", {
        "password": "Another-Temp-88", "password2": "Another-Temp-88", "reason": "forgot it",
        "csrf_token": csrf})
    assert "Temporary password set" in await page(admin, where)

    actions = audit_actions(site.data_dir, head)
    assert [a for a in actions if a[2] == "user:nina"] == [
        ("ada", "user.password_refused", "user:nina"),
        ("ada", "user.added", "user:nina"),
        ("ada", "user.roles_changed", "user:nina"),
        ("ada", "user.password_changed", "user:nina"),
    ]
    with AuditTrail(site.data_dir) as trail:
        roles = trail.entries(action="user.roles_changed", after_seq=head)[-1]
        added = trail.entries(action="user.added", after_seq=head)[-1]
    assert roles.reason == "covers shifts"
    assert roles.old_value == ["operator"]
    assert roles.new_value == ["engineer", "operator"]
    assert added.reason == "new starter"


async def test_disable_enable_unlock_and_no_self_lockout(site: Daemon) -> None:
    admin, csrf = await site.login("ada")
    erik, _ = await site.login("erik")
    head = audit_head(site.data_dir)
    where, _ = await post(admin, "/users/erik/disable", {"reason": "left the company",
                                                         "csrf_token": csrf})
    shown = await page(admin, where)
    assert "Account disabled" in shown
    assert 'id="enable-form"' in shown
    assert 'id="disable-form"' not in shown
    async with erik.get("/", allow_redirects=False) as r:
        assert r.status == 303  # the session ended with the account
    where, _ = await post(admin, "/users/erik/enable", {"reason": "rehired",
                                                        "csrf_token": csrf})
    assert "Account enabled." in await page(admin, where)

    client = site.client()
    for _ in range(site.runtime.loaded.config.users.lockout_attempts):
        async with client.post("/api/v1/session",
                               json={"username": "erik", "password": "wrong-guess"}) as r:
            assert r.status == 401
    shown = await page(admin, "/users/erik")
    assert re.search(r"locked until \d{4}-\d\d-\d\d", shown)
    assert 'id="unlock-form"' in shown
    where, _ = await post(admin, "/users/erik/unlock", {"reason": "after the failed logins",
                                                        "csrf_token": csrf})
    shown = await page(admin, where)
    assert "Lockout lifted." in shown
    assert 'id="unlock-form"' not in shown
    await site.login("erik", PASSWORD)

    _, body = await post(admin, "/users/ada/disable", {"reason": "oops", "csrf_token": csrf},
                         422)
    assert "cannot disable their own account" in body
    _, body = await post(admin, "/users/ada/roles", {"roles": "qa", "reason": "switch",
                                                     "csrf_token": csrf}, 422)
    assert "cannot take away their own admin role" in body
    _, body = await post(admin, "/users/ada/password", {
        "password": TEMP, "password2": TEMP, "reason": "self", "csrf_token": csrf}, 422)
    assert "cannot reset the password of their own account" in body
    await page(admin, "/users/ghost", 404)
    await post(admin, "/users/ghost/disable", {"reason": "who?", "csrf_token": csrf}, 404)
    _, body = await post(admin, "/users/olivia/disable", {"csrf_token": csrf}, 422)
    assert "reason:" in body
    await post(admin, "/users/olivia/delete", {"reason": "gone", "csrf_token": csrf}, 404)

    actions = [a for a in audit_actions(site.data_dir, head) if a[0] == "ada"]
    assert actions == [("ada", "user.disabled", "user:erik"),
                       ("ada", "user.enabled", "user:erik"),
                       ("ada", "user.unlocked", "user:erik")], actions
