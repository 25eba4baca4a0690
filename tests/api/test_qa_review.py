"""QA excursion review over the API: work list, review, comments, the signed closure."""

from __future__ import annotations

import asyncio

import pytest

from monitor.config import load_config
from monitor.qa.context import open_qa
from tests.api.daemon import PASSWORD, Daemon
from tests.api.helpers import audit_actions, audit_head, error_of, finished_excursion

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_review_comment_and_signed_closure(site: Daemon) -> None:
    exc_id = await finished_excursion(site)
    qa, csrf = await site.login("quinn")
    headers = {"X-CSRF-Token": csrf}
    base = f"/api/v1/qa/excursions/{exc_id}"

    async def finished() -> bool:
        async with qa.get(base) as r:
            return r.status == 200 and (await r.json())["excursion"]["finished"]

    await site.wait_for(finished, what="the excursion's record to be final in alarms.db")
    async with qa.get("/api/v1/qa/excursions") as r:
        work = await r.json()
    assert work["status"] == "awaiting"
    listed = {e["excursion"]["id"]: e for e in work["excursions"]}
    assert listed[str(exc_id)]["review"]["status"] == "open"
    assert listed[str(exc_id)]["excursion"]["peak"] == 5.0

    head = audit_head(site.data_dir)
    async with qa.post(f"{base}/review", json={"comment": "looking"}) as r:
        await error_of(r, 403, "csrf")
    operator, op_csrf = await site.login("olivia")
    async with operator.post(f"{base}/review", json={"root_cause": "personnel"},
                             headers={"X-CSRF-Token": op_csrf}) as r:
        await error_of(r, 403, "forbidden")
    async with operator.post(f"{base}/comments", json={"comment": "transfer hatch was open"},
                             headers={"X-CSRF-Token": op_csrf}) as r:
        assert r.status == 201, await r.text()
    async with qa.post(f"{base}/close", json={"password": PASSWORD}, headers=headers) as r:
        body = await error_of(r, 422, "refused")
    assert "not been reviewed" in body["message"]
    async with qa.post(f"{base}/review", json={"root_cause": "gremlins"},
                       headers=headers) as r:
        await error_of(r, 422, "invalid_body")

    review = {"root_cause": "personnel", "root_cause_detail": "hatch left open",
              "impact": "minor", "impact_assessment": "no product exposed",
              "deviation": "DEV-2026-0412", "capa": "CAPA-2026-0087",
              "comment": "operator retrained"}
    async with qa.post(f"{base}/review", json=review, headers=headers) as r:
        assert r.status == 200, await r.text()
        reviewed = (await r.json())["review"]
    assert reviewed["status"] == "under_review"
    assert reviewed["assessment"]["deviation"] == "DEV-2026-0412"
    assert [c["user"] for c in reviewed["comments"]] == ["olivia", "quinn"]

    admin, admin_csrf = await site.login("ada")
    async with admin.post(f"{base}/close", json={"password": PASSWORD},
                          headers={"X-CSRF-Token": admin_csrf}) as r:
        await error_of(r, 403, "forbidden")
    async with qa.post(f"{base}/close", json={"password": "not-my-password"},
                       headers=headers) as r:
        await error_of(r, 403, "signature_failed")
    async with qa.post(f"{base}/close", json={"password": PASSWORD, "meaning": "approved",
                                              "comment": "closed"}, headers=headers) as r:
        assert r.status == 200, await r.text()
        closed = await r.json()
    assert closed["signed"].startswith("Quinn Quality (quinn) — approved — ")
    assert closed["review"]["status"] == "closed"
    assert closed["review"]["signature_valid"] is True
    assert closed["review"]["signature"]["record_type"] == "excursion"
    assert closed["review"]["signature"]["record_id"] == str(exc_id)

    async with qa.post(f"{base}/review", json={"comment": "one more"}, headers=headers) as r:
        await error_of(r, 422, "refused")
    async with qa.get("/api/v1/qa/excursions") as r:
        assert str(exc_id) not in [e["excursion"]["id"] for e in (await r.json())["excursions"]]
    async with qa.get("/api/v1/qa/excursions?status=closed") as r:
        assert str(exc_id) in [e["excursion"]["id"] for e in (await r.json())["excursions"]]

    actions = audit_actions(site.data_dir, head)
    obj = f"excursion:{exc_id}"
    expected = [("olivia", "excursion.commented", obj),
                ("quinn", "excursion.review_started", obj),
                ("quinn", "signature.failed", "user:quinn"),
                ("quinn", "signature.applied", obj),
                ("quinn", "excursion.closed", obj),
                ("ada", "access.denied", f"http:POST {base}/close")]
    for entry in expected:
        assert entry in actions, (entry, actions)

    # The CLI and the reports read the same records: the signature verifies there too.
    def verify() -> str | None:
        with open_qa(load_config(site.config_path)) as ctx:
            exc, state = ctx.review.get(str(exc_id))
            return ctx.review.verify_closure(exc, state)

    assert await asyncio.to_thread(verify) is None


async def test_unknown_excursion_and_bearer_tokens(site: Daemon) -> None:
    token = site.token("quinn")
    client = site.client(headers={"Authorization": f"Bearer {token}"})
    async with client.get("/api/v1/qa/excursions/999999") as r:
        await error_of(r, 404, "not_found")
    async with client.get("/api/v1/qa/excursions/abc") as r:
        await error_of(r, 400, "bad_request")
    async with client.get("/api/v1/qa/excursions?status=all&location=fill-1") as r:
        assert r.status == 200
    anonymous = site.client()
    async with anonymous.get("/api/v1/qa/excursions") as r:
        await error_of(r, 401, "unauthorized")
