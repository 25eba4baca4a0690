"""Health, readiness, /metrics and the OpenAPI description of a running daemon."""

from __future__ import annotations

import pytest

from monitor.api.routes import ROUTES
from tests.api.daemon import Daemon
from tests.fixtures.prometheus import promtool_check_metrics

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_healthz_and_readyz(site: Daemon) -> None:
    client = site.client()
    async with client.get("/healthz") as r:
        assert r.status == 200
        assert await r.json() == {"status": "ok"}
    async with client.get("/readyz") as r:
        ready = await r.json()
        assert r.status == 200, ready
    assert ready["ready"] is True
    assert ready["checks"]["config"]["sha256"] == site.runtime.loaded.sha256
    assert ready["checks"]["pollers"] == {"ok": True, "drivers": 1}
    assert ready["checks"]["store"]["ok"] is True
    assert ready["checks"]["alarms"]["ok"] is True


async def test_readyz_says_when_the_store_cannot_write(site: Daemon) -> None:
    store = site.runtime.stores[0]
    store.disk_problem = "disk full: simulated"  # type: ignore[attr-defined]
    try:
        async with site.client().get("/readyz") as r:
            assert r.status == 503
            body = await r.json()
        assert body["ready"] is False
        assert body["checks"]["store"]["problems"] == {"embedded": "disk full: simulated"}
    finally:
        store.disk_problem = None  # type: ignore[attr-defined]


async def test_metrics_are_open_and_lint_clean(site: Daemon) -> None:
    await site.wait_for(lambda: "th1/temperature" in site.runtime.pipeline.latest)
    async with site.client().get("/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await r.text()
    assert any(line.startswith("cleanroom_reading_celsius{")
               and 'channel="th1/temperature"' in line for line in text.splitlines())
    assert "cleanroom_device_poll_duration_seconds_bucket" in text
    assert f'sha256="{site.runtime.loaded.sha256}"' in text
    assert promtool_check_metrics(text) == []
    async with site.client().get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}) as r:
        assert r.headers["Content-Type"].startswith("application/openmetrics-text")
        assert (await r.text()).rstrip().endswith("# EOF")


async def test_openapi_describes_every_route(site: Daemon) -> None:
    async with site.client().get("/api/v1/openapi.json") as r:
        assert r.status == 200
        doc = await r.json()
    assert doc["openapi"] == "3.1.0"
    for route in ROUTES:
        op = doc["paths"][route.full_path][route.method.lower()]
        assert op["summary"]
        assert "400" in op["responses"]
        if route.permission is not None:
            assert {"401", "403"} <= set(op["responses"])
        if route.body is not None:
            ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            name = ref.rsplit("/", 1)[1]
            schema = doc["components"]["schemas"][name]
            assert schema["additionalProperties"] is False  # unknown fields are refused
    ack = doc["paths"]["/api/v1/alarms/{alarm}/acknowledge"]["post"]
    assert "acknowledge" in ack["description"]
    assert any(p["name"] == "X-CSRF-Token" for p in ack["parameters"])

    def refs(node: object) -> list[str]:
        if isinstance(node, dict):
            return [v for k, v in node.items() if k == "$ref"] + [
                r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(doc):
        assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"], ref


async def test_security_headers(site: Daemon) -> None:
    async with site.client().get("/login") as r:
        headers = r.headers
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"
