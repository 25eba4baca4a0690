"""What the daemon imports: nothing of the HTTP server with it off, and with it on, not the
code of features used now and then until a request first reaches them.

Each check runs in a fresh interpreter: the test session itself has imported everything.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.metrics.site import SITE_YAML

CHECK = """
import sys
from monitor.config import load_config
from monitor.runtime import build_runtime
runtime = build_runtime(load_config(sys.argv[1]), with_http=True)
heavy = [m for m in ("aiohttp", "prometheus_client", "monitor.api.server",
                     "monitor.metrics") if m in sys.modules]
assert not heavy, heavy
assert "http" not in runtime.services
if runtime.alarms is not None:
    runtime.alarms.close()
print("ok")
"""

#: Loaded by the first request that needs them (password hashing, config diff, notifier
#: dispatch, web pages, OpenAPI, the API's resources but health, reading history), never at
#: the start.
LAZY = ("argon2", "_cffi_backend", "difflib", "statistics", "monitor.audit.textdiff",
        "monitor.notify.dispatcher", "monitor.api.openapi", "monitor.api.web.pages",
        "monitor.api.web.qa_pages", "monitor.api.web.user_pages", "monitor.api.routes.qa",
        "monitor.api.routes.users", "monitor.qa.workflow", "monitor.qa.excursions",
        "monitor.storage.history", "monitor.api.routes.alarms", "monitor.api.actions",
        "monitor.api.routes.readings", "monitor.api.routes.session")

SERVE = """
import asyncio, sys
from aiohttp import ClientSession, web
from monitor.audit import record_config_loaded
from monitor.config import load_config
from monitor.runtime import build_runtime

LAZY = %r

def loaded():
    return [m for m in LAZY if m in sys.modules]

async def main():
    config = load_config(sys.argv[1])
    record_config_loaded(config)  # as the service does at its start
    runtime = build_runtime(config, with_http=True)
    runner = web.AppRunner(runtime.extras["http"].app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with ClientSession(f"http://127.0.0.1:{port}") as http:
            for path in ("/metrics", "/healthz"):
                async with http.get(path) as r:
                    assert r.status == 200, (path, r.status)
            assert not loaded(), f"loaded at the start or by a scrape: {loaded()}"
            async with http.get("/api/v1/openapi.json") as r:
                assert r.status == 200
                doc = await r.json()
            assert "/api/v1/qa/excursions/{excursion}/close" in doc["paths"]
            assert "/api/v1/users/{username}/roles" in doc["paths"]
            async with http.get("/login") as r:
                assert r.status == 200 and "password" in await r.text()
            async with http.get("/users", allow_redirects=False) as r:
                assert r.status == 303 and r.headers["Location"].startswith("/login"), r.status
            async with http.get("/api/v1/qa/excursions") as r:
                assert r.status == 401, r.status
            async with http.get("/api/v1/users/nobody") as r:
                assert r.status == 401, r.status
            async with http.get("/api/v1/alarms") as r:
                assert r.status == 401, r.status
            async with http.get("/api/v1/session") as r:
                assert r.status == 401, r.status
    finally:
        await runner.cleanup()
        if runtime.alarms is not None:
            runtime.alarms.close()
    print(" ".join(loaded()))

asyncio.run(main())
"""


def _site(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(SITE_YAML.replace("{data_dir}", str(tmp_path / "data")) + extra)
    return path


def _run(script: str, config: Path) -> str:
    done = subprocess.run([sys.executable, "-c", script, str(config)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_http_off_imports_no_server(tmp_path: Path) -> None:
    assert _run(CHECK, _site(tmp_path, "http: {enabled: false}\n")) == "ok"


def test_rarely_used_features_are_imported_at_their_first_request(tmp_path: Path) -> None:
    """A daemon that is only scraped never loads them; the first request to each works."""
    loaded = set(_run(SERVE % (LAZY,), _site(tmp_path)).split())
    assert {"monitor.api.openapi", "monitor.api.web.pages", "monitor.api.web.user_pages",
            "monitor.api.routes.qa", "monitor.api.routes.users", "monitor.api.routes.alarms",
            "monitor.api.routes.session", "monitor.qa.workflow"} <= loaded
