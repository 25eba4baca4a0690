"""Logins, sessions, tokens, CSRF: who may do what, and what a refusal looks like."""

from __future__ import annotations

import pytest

from tests.api.daemon import PASSWORD, Daemon
from tests.api.helpers import audit_actions, audit_head, error_of

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_login_sets_a_strict_http_only_cookie_and_returns_csrf(site: Daemon) -> None:
    client = site.client()
    async with client.post("/api/v1/session",
                           json={"username": "olivia", "password": PASSWORD}) as r:
        assert r.status == 201
        body = await r.json()
        cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback; TLS sets it (test_server)
    assert body["user"]["username"] == "olivia"
    assert body["user"]["roles"] == ["operator"]
    assert "acknowledge" in body["permissions"]
    assert len(body["csrf_token"]) >= 32
    assert PASSWORD not in str(body)


async def test_wrong_password_is_401_and_audited(site: Daemon) -> None:
    head = audit_head(site.data_dir)
    client = site.client()
    async with client.post("/api/v1/session",
                           json={"username": "olivia", "password": "not-it-at-all"}) as r:
        body = await error_of(r, 401, "login_failed")
    assert "password" in body["message"]
    assert "Set-Cookie" not in r.headers
    assert ("unauthenticated", "user.login_failed", "user:olivia") in audit_actions(
        site.data_dir, head)


async def test_session_reads_and_logout_ends_it(site: Daemon) -> None:
    client, csrf = await site.login("erik")
    async with client.get("/api/v1/session") as r:
        assert r.status == 200
        assert (await r.json())["user"]["username"] == "erik"
    async with client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf}) as r:
        assert r.status == 204
    async with client.get("/api/v1/session") as r:
        await error_of(r, 401, "unauthorized")
    async with client.get("/api/v1/locations") as r:
        await error_of(r, 401, "unauthorized")


async def test_reads_need_login_when_not_open(site: Daemon) -> None:
    client = site.client()
    for path in ("/api/v1/locations", "/api/v1/channels", "/api/v1/alarms", "/api/v1/site",
                 "/api/v1/channels/dp1/dp/history", "/api/v1/excursions"):
        async with client.get(path) as r:
            await error_of(r, 401, "unauthorized")
            assert r.headers["WWW-Authenticate"] == "Bearer"


async def test_api_token_reads_and_a_bad_token_is_refused_and_audited(site: Daemon) -> None:
    token = site.token("quinn")
    client = site.client()
    async with client.get("/api/v1/site", headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200
        assert (await r.json())["site"]["id"] == "plant-a"
    head = audit_head(site.data_dir)
    forged = token[:-4] + ("aaaa" if not token.endswith("aaaa") else "bbbb")
    async with client.get("/api/v1/site", headers={"Authorization": f"Bearer {forged}"}) as r:
        await error_of(r, 401, "unauthorized")
    async with client.get("/api/v1/site", headers={"Authorization": "Basic b2xpdmlhOng="}) as r:
        await error_of(r, 401, "unauthorized")
    assert any(a == "token.rejected" for _, a, _ in audit_actions(site.data_dir, head))


async def test_token_requests_need_no_csrf_but_cookie_requests_do(site: Daemon) -> None:
    token = site.token("erik")
    client = site.client()
    body = {"state": "in_operation", "reason": "production starts", "duration": "10m"}
    async with client.post("/api/v1/locations/corr-1/state", json=body,
                           headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["state"] == "in_operation"
    session, csrf = await site.login("erik")
    head = audit_head(site.data_dir)
    async with session.post("/api/v1/locations/corr-1/state", json=body) as r:
        await error_of(r, 403, "csrf")
    async with session.post("/api/v1/locations/corr-1/state", json=body,
                            headers={"X-CSRF-Token": csrf + "x"}) as r:
        await error_of(r, 403, "csrf")
    async with session.post("/api/v1/locations/corr-1/state", json=body,
                            headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"}) as r:
        await error_of(r, 403, "csrf")
    denied = [e for e in audit_actions(site.data_dir, head) if e[1] == "access.denied"]
    assert len(denied) == 3
    assert all(user == "erik" for user, _, _ in denied)
    async with session.post("/api/v1/locations/corr-1/state",
                            json={**body, "state": "auto", "reason": "back to schedule"},
                            headers={"X-CSRF-Token": csrf, "Origin": site.url}) as r:
        assert r.status == 200, await r.text()


async def test_a_disabled_users_session_and_tokens_stop_working(site: Daemon) -> None:
    from monitor.audit import AuditTrail
    from monitor.users.store import UserStore
    from tests.api.daemon import add_users

    add_users(site.data_dir, {"temp": ("Temporary Worker", ["operator"])})
    session, _ = await site.login("temp")
    token = site.token("temp")
    with AuditTrail(site.data_dir) as audit, UserStore(site.data_dir, audit) as store:
        store.disable("os:test", "temp", "left the company")
    async with session.get("/api/v1/site") as r:
        await error_of(r, 401)
    client = site.client()
    async with client.get("/api/v1/site", headers={"Authorization": f"Bearer {token}"}) as r:
        await error_of(r, 401)


async def test_a_temporary_password_must_be_changed_before_login(site: Daemon) -> None:
    from monitor.audit import AuditTrail
    from monitor.users.store import UserStore

    with AuditTrail(site.data_dir) as audit, UserStore(site.data_dir, audit) as store:
        store.add("ada", "newbie", "New Operator", ["operator"], "Temporary-Pass-9")
    client = site.client()
    login = {"username": "newbie", "password": "Temporary-Pass-9"}
    async with client.post("/api/v1/session", json=login) as r:
        await error_of(r, 403, "password_change_required")
    async with client.post("/api/v1/password", json={**login, "new_password": "short"}) as r:
        body = await error_of(r, 422, "refused")
    assert "shorter than" in body["message"]
    async with client.post("/api/v1/password", json={**login, "password": "wrong-password-1",
                                                     "new_password": "Fresh-Start-2027"}) as r:
        await error_of(r, 401, "login_failed")
    async with client.post("/api/v1/password",
                           json={**login, "new_password": "Fresh-Start-2027"}) as r:
        assert r.status == 200, await r.text()
    async with client.post("/api/v1/session",
                           json={"username": "newbie", "password": "Fresh-Start-2027"}) as r:
        assert r.status == 201


async def test_pages_answer_errors_in_html(site: Daemon) -> None:
    client, _ = await site.login("olivia")
    async with client.get("/trend/nope/nope") as r:
        assert r.status == 404
        assert r.content_type == "text/html"
        assert "channel &#x27;nope/nope&#x27; not found" in await r.text()
