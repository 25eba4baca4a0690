"""Server settings: open reading, login rate limit, TLS, reload, loopback default, web forms."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path
from urllib.parse import unquote

import aiohttp
import pytest

from monitor.api.web.pages import safe_next
from monitor.config.api import HttpConfig
from tests.api.daemon import PASSWORD, running_daemon
from tests.api.helpers import audit_actions, audit_head, error_of
from tests.fixtures.ports import free_port


def test_binds_loopback_by_default() -> None:
    assert HttpConfig().host == "127.0.0.1"
    assert HttpConfig().open_read is False


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "\\\\x", "",
                                    "alarms"])
def test_login_never_redirects_off_site(target: str) -> None:
    assert safe_next(target) == "/"


async def test_open_read_allows_reading_but_never_changing(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, http={"open_read": "true"}) as site:
        client = site.client()
        async with client.get("/api/v1/locations") as r:
            assert r.status == 200
        async with client.get("/") as r:
            assert r.status == 200
            assert 'id="loc-fill-1"' in await r.text()
        head = audit_head(site.data_dir)
        async with client.post("/api/v1/locations/fill-1/state",
                               json={"state": "at_rest", "reason": "anonymous try"}) as r:
            await error_of(r, 401, "unauthorized")
        assert ("unauthenticated", "access.denied",
                "http:POST /api/v1/locations/fill-1/state") in audit_actions(site.data_dir, head)


async def test_login_attempts_are_rate_limited_per_address(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, http={"login_attempts": 3,
                                              "login_window": "1m"}) as site:
        client = site.client()
        for _ in range(3):
            async with client.post("/api/v1/session",
                                   json={"username": "olivia", "password": "guess-1234"}) as r:
                assert r.status == 401
        head = audit_head(site.data_dir)
        async with client.post("/api/v1/session",
                               json={"username": "erik", "password": PASSWORD}) as r:
            await error_of(r, 429, "too_many_requests")
            assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert ("unauthenticated", "user.login_failed", "user:erik") in audit_actions(
            site.data_dir, head)


def _self_signed(directory: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl not installed (Debian package openssl)")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


async def test_tls_with_certificate_files(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    async with running_daemon(tmp_path, http={"tls_cert": f'"{cert}"',
                                              "tls_key": f'"{key}"'}) as site:
        assert site.url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(cert))
        async with (
            aiohttp.ClientSession(base_url=site.url,
                                  connector=aiohttp.TCPConnector(ssl=context)) as client,
            client.post("/api/v1/session",
                        json={"username": "olivia", "password": PASSWORD}) as r,
        ):
            assert r.status == 201
            assert "Secure" in r.headers["Set-Cookie"]
            assert r.headers["Strict-Transport-Security"].startswith("max-age=")
        plain = site.url.replace("https://", "http://")
        async with aiohttp.ClientSession() as client:
            with pytest.raises(aiohttp.ClientError):
                async with client.get(plain + "/healthz", timeout=aiohttp.ClientTimeout(5)):
                    pass


async def test_a_reload_keeps_web_sessions(tmp_path: Path) -> None:
    port = free_port()
    async with running_daemon(tmp_path, http={"port": port}) as site:
        client, _ = await site.login("olivia")
        old = site.server
        text = site.config_path.read_text().replace("name: Plant A", "name: Plant A (reloaded)")
        site.config_path.write_text(text)
        site.service.request_reload()
        await site.wait_for(lambda: site.service.runtime is not None
                            and site.service.runtime.extras.get("http") is not old
                            and site.server.started.is_set(), what="the reload")
        assert site.service.reloads_ok == 1
        async with client.get("/api/v1/site") as r:
            assert r.status == 200
            assert (await r.json())["site"]["name"] == "Plant A (reloaded)"
        async with client.get("/metrics") as r:
            assert 'cleanroom_config_reloads_total{result="success"} 1.0' in await r.text()


async def test_web_forms_check_login_csrf_and_input(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as site:
        alarm = await site.dp_alarm()
        browser = site.client(cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with browser.get("/alarms", allow_redirects=False) as r:
            assert r.status == 303
            assert unquote(r.headers["Location"]) == "/login?next=/alarms"
        async with browser.post("/login", data={"username": "olivia", "password": "nope",
                                                "next": "/alarms"}) as r:
            assert r.status == 401
            assert 'id="login-error"' in await r.text()
        async with browser.post("/login", data={"username": "olivia", "password": PASSWORD,
                                                "next": "/alarms"},
                                allow_redirects=False) as r:
            assert r.status == 303
            assert r.headers["Location"] == "/alarms"
        url = f"/alarms/{alarm.alarm_id}/acknowledge"
        async with browser.post(url, data={"reason": "door", "password": PASSWORD}) as r:
            assert r.status == 403  # no CSRF token
            assert "CSRF" in await r.text()
        async with browser.get("/alarms") as r:
            page = await r.text()
        csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        async with browser.post(url, data={"reason": "x", "password": PASSWORD,
                                           "csrf_token": csrf}) as r:
            assert r.status == 422
            assert "reason" in await r.text()
        async with browser.post(url, data={"reason": "airlock door", "password": PASSWORD,
                                           "csrf_token": csrf}, allow_redirects=False) as r:
            assert r.status == 303
            assert r.headers["Location"] == f"/alarms?done=acknowledge&alarm={alarm.alarm_id}"
        state = next(a.state for a in site.runtime.alarms.active()
                     if a.alarm_id == alarm.alarm_id)
        assert state == "active_ack"
        async with browser.post("/logout", data={"csrf_token": csrf},
                                allow_redirects=False) as r:
            assert r.status == 303
        async with browser.get("/api/v1/session") as r:
            assert r.status == 401
