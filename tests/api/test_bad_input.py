"""Bad input gets a clear 4xx JSON error, never a 500 and never a state change."""

from __future__ import annotations

import json

import pytest

from tests.api.daemon import PASSWORD, Daemon
from tests.api.helpers import error_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

STATE_URL = "/api/v1/locations/fill-1/state"


@pytest.fixture(scope="module")
def engineer_token(site: Daemon) -> str:
    return site.token("erik")


def _state(site: Daemon) -> str:
    return site.runtime.alarms.location_states()["fill-1"]["state"]


@pytest.mark.parametrize(
    "case",
    [
        (b"{not json", "application/json", 400, "bad_request"),
        (b'{"state": "at_rest", "reason": "x\xff\xfe"}', "application/json", 400, "bad_request"),
        (b"[1, 2, 3]", "application/json", 422, "invalid_body"),
        (b'"at_rest"', "application/json", 422, "invalid_body"),
        (b'{"state": "at_rest"}', "application/json", 422, "invalid_body"),
        (b'{"state": "sleeping", "reason": "why not"}', "application/json", 422,
         "invalid_body"),
        (b'{"state": 1, "reason": "numbers"}', "application/json", 422, "invalid_body"),
        (b'{"state": "at_rest", "reason": "ok reason", "admin": true}', "application/json", 422,
         "invalid_body"),
        (b'{"state": "at_rest", "reason": "ok reason", "duration": "ten minutes"}',
         "application/json", 422, "invalid_body"),
        (b'{"state": "at_rest", "reason": "ok reason", "duration": 600}', "application/json",
         422, "invalid_body"),
        (b"state=at_rest&reason=form", "application/x-www-form-urlencoded", 415,
         "unsupported_media_type"),
        (b"", "application/json", 400, "bad_request"),
    ],
)
async def test_malformed_bodies(site: Daemon, engineer_token: str,
                                case: tuple[bytes, str, int, str]) -> None:
    body, content_type, status, code = case
    before = _state(site)
    client = site.client()
    async with client.post(STATE_URL, data=body, headers={
            "Authorization": f"Bearer {engineer_token}", "Content-Type": content_type}) as r:
        error = await error_of(r, status, code)
    if code == "invalid_body":
        assert error["details"], error
        assert all(set(d) == {"field", "problem"} for d in error["details"])
    assert _state(site) == before


async def test_invalid_body_names_the_fields_without_echoing_values(site: Daemon,
                                                                     engineer_token: str) -> None:
    client = site.client()
    secret = "my-secret-value-123"
    async with client.post(STATE_URL, json={"state": secret, "reason": "r", "extra": secret},
                           headers={"Authorization": f"Bearer {engineer_token}"}) as r:
        error = await error_of(r, 422, "invalid_body")
    fields = {d["field"] for d in error["details"]}
    assert fields == {"state", "reason", "extra"}
    assert secret not in json.dumps(error)


async def test_huge_body_is_413(site: Daemon, engineer_token: str) -> None:
    client = site.client()
    body = {"state": "at_rest", "reason": "x" * 200_000}
    async with client.post(STATE_URL, json=body,
                           headers={"Authorization": f"Bearer {engineer_token}"}) as r:
        await error_of(r, 413, "body_too_large")
    async with client.post("/api/v1/session", data=b"{" + b" " * 100_000 + b"}",
                           headers={"Content-Type": "application/json"}) as r:
        await error_of(r, 413, "body_too_large")


async def test_unknown_and_repeated_query_parameters(site: Daemon, engineer_token: str) -> None:
    client = site.client(headers={"Authorization": f"Bearer {engineer_token}"})
    async with client.get("/api/v1/channels?colour=red") as r:
        error = await error_of(r, 400, "invalid_query")
        assert error["details"][0]["field"] == "colour"
    async with client.get("/api/v1/channels?location=fill-1&location=corr-1") as r:
        await error_of(r, 400, "bad_request")
    async with client.get("/api/v1/channels/dp1/dp/history?start=yesterday") as r:
        await error_of(r, 400, "invalid_query")
    async with client.get("/api/v1/channels/dp1/dp/history?start=2026-01-01T00:00:00") as r:
        await error_of(r, 400, "invalid_query")  # a time without zone is ambiguous
    async with client.get("/api/v1/channels/dp1/dp/history?step=banana") as r:
        await error_of(r, 400, "bad_request")
    async with client.get("/api/v1/channels/dp1/dp/history?limit=0") as r:
        await error_of(r, 400, "invalid_query")
    async with client.get("/api/v1/channels/dp1/dp/history?start=2030-01-02T00:00:00Z"
                          "&end=2030-01-01T00:00:00Z") as r:
        await error_of(r, 400, "bad_request")


async def test_unknown_paths_methods_and_objects(site: Daemon, engineer_token: str) -> None:
    client = site.client(headers={"Authorization": f"Bearer {engineer_token}"})
    async with client.get("/api/v1/nothing-here") as r:
        await error_of(r, 404, "not_found")
    async with client.get("/api/v1/channels/nope/nope") as r:
        await error_of(r, 404, "not_found")
    async with client.get("/api/v1/locations/atlantis") as r:
        await error_of(r, 404, "not_found")
    async with client.delete("/api/v1/locations") as r:
        await error_of(r, 405, "method_not_allowed")
    async with client.post("/api/v1/locations/atlantis/state",
                           json={"state": "at_rest", "reason": "does not exist"}) as r:
        await error_of(r, 404, "not_found")
    async with client.post("/api/v1/alarms/999999/acknowledge",
                           json={"reason": "no such alarm", "password": PASSWORD}) as r:
        await error_of(r, 404, "not_found")
    async with client.get("/api/v1/excursions/abc") as r:
        await error_of(r, 400, "bad_request")
    async with client.get("/api/v1/excursions/424242") as r:
        await error_of(r, 404, "not_found")


async def test_a_get_with_a_body_is_refused(site: Daemon, engineer_token: str) -> None:
    client = site.client(headers={"Authorization": f"Bearer {engineer_token}"})
    async with client.get("/api/v1/site", data=b"{}",
                          headers={"Content-Type": "application/json"}) as r:
        await error_of(r, 400, "bad_request")


async def test_refused_action_is_409_and_changes_nothing(site: Daemon,
                                                         engineer_token: str) -> None:
    client = site.client(headers={"Authorization": f"Bearer {engineer_token}"})
    async with client.post(STATE_URL, json={"state": "auto", "reason": "nothing manual"}) as r:
        await error_of(r, 409, "alarm_refused")
    async with client.post("/api/v1/maintenance",
                           json={"target": "fill-1", "on": False, "reason": "not in it"}) as r:
        await error_of(r, 409, "alarm_refused")
    async with client.post("/api/v1/maintenance",
                           json={"target": "no-such-place", "on": True, "reason": "x y z"}) as r:
        await error_of(r, 409, "alarm_refused")
