"""The alarm workflow over the API: raise, list, sign and acknowledge, shelve, excursions."""

from __future__ import annotations

import pytest

from monitor.audit import AuditTrail
from monitor.signatures import Signature
from tests.api.daemon import DP_ALARM, PASSWORD, Daemon
from tests.api.helpers import audit_actions, audit_head, error_of

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_acknowledge_is_an_electronic_signature(site: Daemon) -> None:
    alarm = await site.dp_alarm()
    client, csrf = await site.login("olivia")
    headers = {"X-CSRF-Token": csrf}
    async with client.get("/api/v1/alarms?priority=critical") as r:
        listed = (await r.json())["alarms"]
    mine = next(a for a in listed if a["point"] == DP_ALARM)
    assert mine["state"] == "active_unack"
    assert mine["acknowledgeable"] is True
    assert mine["limit"] == 10.0
    assert mine["raised_ts"].endswith("Z")

    head = audit_head(site.data_dir)
    url = f"/api/v1/alarms/{alarm.alarm_id}/acknowledge"
    async with client.post(url, json={"reason": "door held open", "password": "wrong-one"},
                           headers=headers) as r:
        await error_of(r, 403, "signature_failed")
    assert any(a == "signature.failed" for _, a, _ in audit_actions(site.data_dir, head))
    async with client.post(url, json={"reason": "door held", "password": ""},
                           headers=headers) as r:
        await error_of(r, 422, "invalid_body")
    async with client.post(url, json={"reason": "", "password": PASSWORD}, headers=headers) as r:
        await error_of(r, 422, "invalid_body")
    assert next(a for a in site.runtime.alarms.active()
                if a.alarm_id == alarm.alarm_id).state == "active_unack"

    async with client.post(url, json={"reason": "door held open for a transfer",
                                      "password": PASSWORD}, headers=headers) as r:
        assert r.status == 200, await r.text()
        done = await r.json()
    assert done["alarm"]["state"] == "active_ack"
    assert done["signed"].startswith("Olivia Operator (olivia) — acknowledged — ")
    signature = Signature.from_dict(done["signature"])
    assert signature.record_type == "alarm"
    assert signature.record_id == str(alarm.alarm_id)
    actions = audit_actions(site.data_dir, head)
    assert ("olivia", "signature.applied", f"alarm:{alarm.alarm_id}") in actions
    assert ("olivia", "alarm.acknowledged", f"alarm:{alarm.alarm_id}") in actions
    with AuditTrail(site.data_dir) as trail:
        ack = trail.entries(action="alarm.acknowledged", after_seq=head)[-1]
    assert ack.reason == "door held open for a transfer"

    async with client.post(url, json={"reason": "again", "password": PASSWORD},
                           headers=headers) as r:
        await error_of(r, 409, "alarm_refused")

    site.force_dp(None)  # the pressure recovers: the latched action alarm waits for a reset
    await site.wait_for(lambda: any(a.point == DP_ALARM and a.state == "rtn_unack"
                                    for a in site.runtime.alarms.active()), what="rtn_unack")
    async with client.get(f"/api/v1/excursions/{alarm.alarm_id}") as r:
        excursion = await r.json()
    assert excursion["point"] == DP_ALARM
    assert excursion["peak"] == 5.0
    assert excursion["acks"][0]["user"] == "olivia"
    assert excursion["acks"][0]["signature"]["seal"] == signature.seal
    async with client.get("/api/v1/excursions?location=fill-1") as r:
        listed_exc = (await r.json())["excursions"]
    assert alarm.alarm_id in [e["alarm_id"] for e in listed_exc]
    async with client.post(url, json={"reason": "pressure back, reset", "password": PASSWORD},
                           headers=headers) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["alarm"]["state"] == "normal"


async def test_shelve_and_unshelve(site: Daemon) -> None:
    alarm = await site.dp_alarm()
    client, csrf = await site.login("erik")
    headers = {"X-CSRF-Token": csrf}
    base = f"/api/v1/alarms/{alarm.alarm_id}"
    async with client.post(f"{base}/shelve", json={"reason": "HVAC work", "duration": "13h"},
                           headers=headers) as r:
        await error_of(r, 409, "alarm_refused")  # beyond alarms.max_shelve (12 h)
    async with client.post(f"{base}/shelve", json={"reason": "HVAC work", "duration": "1h"},
                           headers=headers) as r:
        assert r.status == 200, await r.text()
        shelved = (await r.json())["alarm"]
    assert shelved["mode"] == "shelved"
    assert shelved["shelved_by"] == "erik"
    async with client.get(base) as r:
        assert (await r.json())["shelved"] is True
    async with client.post(f"{base}/unshelve", json={"reason": "HVAC done"},
                           headers=headers) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["alarm"]["mode"] == "in_service"
    async with client.post(f"{base}/unshelve", json={"reason": "HVAC done"},
                           headers=headers) as r:
        await error_of(r, 409, "alarm_refused")
    site.force_dp(None)


async def test_location_state_changes_are_listed(site: Daemon) -> None:
    client, csrf = await site.login("erik")
    headers = {"X-CSRF-Token": csrf}
    async with client.post("/api/v1/locations/fill-1/state",
                           json={"state": "at_rest", "reason": "end of batch 42"},
                           headers=headers) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["state"] == "at_rest"
    async with client.get("/api/v1/location-states") as r:
        states = {s["location"]: s for s in (await r.json())["locations"]}
    assert states["fill-1"]["state"] == "at_rest"
    assert states["fill-1"]["source"] == "manual"
    async with client.get("/api/v1/location-state-changes?location=fill-1") as r:
        changes = (await r.json())["changes"]
    last = changes[-1]
    assert (last["state"], last["user"], last["reason"]) == ("at_rest", "erik", "end of batch 42")
    async with client.get("/api/v1/locations/fill-1") as r:
        assert (await r.json())["state"] == "at_rest"
    async with client.post("/api/v1/locations/fill-1/state",
                           json={"state": "auto", "reason": "batch 43 starts"},
                           headers=headers) as r:
        assert r.status == 200, await r.text()


async def test_maintenance_suppresses_and_is_shown(site: Daemon) -> None:
    client, csrf = await site.login("erik")
    headers = {"X-CSRF-Token": csrf}
    async with client.post("/api/v1/maintenance", headers=headers,
                           json={"target": "fill-1", "on": True, "reason": "filter change",
                                 "duration": "1h"}) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["maintenance"] is True
    async with client.get("/api/v1/locations/fill-1") as r:
        assert (await r.json())["maintenance"] is True
    async with client.post("/api/v1/maintenance", headers=headers,
                           json={"target": "fill-1", "on": False, "reason": "done"}) as r:
        assert (await r.json())["maintenance"] is False
