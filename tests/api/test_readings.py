"""Locations, channels, latest readings and history, as polled from the simulators."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.api.daemon import Daemon

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_locations_and_channels_carry_latest_readings(site: Daemon) -> None:
    await site.wait_for(lambda: "th1/rh" in site.runtime.pipeline.latest)
    client, _ = await site.login("quinn")
    async with client.get("/api/v1/locations?room=corridor") as r:
        locations = (await r.json())["locations"]
    assert [loc["name"] for loc in locations] == ["corr-1"]
    corr = locations[0]
    assert (corr["grade"], corr["standard"], corr["state"]) == ("C", "eu_gmp_annex1",
                                                                "in_operation")
    rh = next(c for c in corr["channels"] if c["id"] == "th1/rh")
    assert rh["unit"] == "%RH"
    assert rh["latest"]["quality"] == "good"
    assert rh["latest"]["ts_source"] == "daemon"
    assert 30 < rh["latest"]["value"] < 60
    assert rh["last_good_ts"].endswith("Z")
    async with client.get("/api/v1/channels/th1/temperature") as r:
        temperature = await r.json()
    assert temperature["limits"] == {"high_alert": 24.0, "high_action": 25.0,
                                     "state": "in_operation", "source": "config"}
    assert temperature["alarm_level"] == "normal"
    async with client.get("/api/v1/channels?quantity=particles_0_5um") as r:
        particles = (await r.json())["channels"]
    assert [c["id"] for c in particles] == ["pc1/p0_5um"]
    assert particles[0]["limits"]["high_action"] == 3520.0  # EU GMP Annex 1 grade A preset
    async with client.get("/api/v1/site") as r:
        site_doc = await r.json()
    assert site_doc["config_sha256"] == site.runtime.loaded.sha256
    assert {room["name"] for room in site_doc["rooms"]} == {"fill", "corridor"}


async def test_history_raw_and_aggregated(site: Daemon) -> None:
    client, _ = await site.login("quinn")
    await site.wait_for(lambda: site.runtime.stores[0].committed > 10)  # type: ignore[attr-defined]
    async with client.get("/api/v1/channels/th1/temperature/history") as r:
        raw = await r.json()
        assert r.status == 200, raw
    assert raw["unit"] == "degC"
    assert raw["points"]
    point = raw["points"][-1]
    assert point["quality"] == "good"
    assert point["location_state"] == "in_operation"
    assert raw["truncated"] is False
    start = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    async with client.get("/api/v1/channels/th1/temperature/history",
                          params={"start": start, "step": "1m"}) as r:
        buckets = await r.json()
    assert buckets["step_s"] == 60.0
    total = sum(b["count"] for b in buckets["points"])
    assert total >= len(raw["points"]) - 5
    assert all(b["min"] <= b["mean"] <= b["max"] for b in buckets["points"])
    async with client.get("/api/v1/channels/th1/temperature/history",
                          params={"limit": "2"}) as r:
        limited = await r.json()
    assert len(limited["points"]) == 2
    assert limited["truncated"] is True
    async with client.get("/api/v1/channels/th1/temperature/history",
                          params={"start": start, "step": "1ms"}) as r:
        assert r.status == 400
