"""QA's excursion pages over real HTTP: list, filter, open, comment, review, sign and close.

The forms run the API's own routes, so these tests check what a browser gets
(303 on success, the page again with the reason and the API's status on a
refusal) and that the audit trail holds exactly the entries the API writes.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from monitor.audit import AuditTrail
from monitor.config import load_config
from monitor.qa.context import open_qa
from tests.api.daemon import PASSWORD, Daemon
from tests.api.helpers import audit_actions, audit_head, finished_excursion

pytestmark = pytest.mark.asyncio(loop_scope="module")

HASH = re.compile(r'<code id="record-hash">([0-9a-f]{64})</code>')


async def final_excursion(site: Daemon) -> int:
    """An excursion raised, acknowledged, returned and reset, whose record is final."""
    exc_id = await finished_excursion(site)
    qa, _ = await site.login("quinn")

    async def final() -> bool:
        async with qa.get(f"/api/v1/qa/excursions/{exc_id}") as r:
            return r.status == 200 and bool((await r.json())["excursion"]["finished"])

    await site.wait_for(final, what="the excursion's record to be final in alarms.db")
    return exc_id


async def page(client: aiohttp.ClientSession, path: str, status: int = 200) -> str:
    async with client.get(path, allow_redirects=False) as r:
        text = await r.text()
        assert r.status == status, (path, r.status, text[:2000])
        assert r.content_type == "text/html"
    return text


async def post(client: aiohttp.ClientSession, path: str, data: dict[str, str],
               status: int = 303) -> tuple[str, str]:
    """POST a form; returns (Location or "", body)."""
    async with client.post(path, data=data, allow_redirects=False) as r:
        text = await r.text()
        assert r.status == status, (path, r.status, text[:3000])
        return r.headers.get("Location", ""), text


async def test_list_filter_and_open_an_excursion(site: Daemon) -> None:
    exc_id = await final_excursion(site)
    anonymous = site.client(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with anonymous.get("/qa/excursions", allow_redirects=False) as r:
        assert r.status == 303
        assert r.headers["Location"] in ("/login?next=/qa/excursions",
                                         "/login?next=%2Fqa%2Fexcursions")

    operator, _ = await site.login("olivia")
    listing = await page(operator, "/qa/excursions")
    assert f'<tr id="exc-{exc_id}" data-status="open">' in listing
    assert 'href="/qa/excursions"' in listing  # the nav offers the page to every user
    assert 'href="/users"' not in listing  # ... and user management only to admins
    now = datetime.now(UTC)
    window = {"start": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
              "end": (now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")}
    found = await page(operator, "/qa/excursions?status=all&location=fill-1"
                                 f"&start={window['start']}&end={window['end']}")
    assert f'id="exc-{exc_id}"' in found
    assert f'value="{window["start"]}"' in found  # the filter shows what was asked
    other = await page(operator, "/qa/excursions?status=all&location=corr-1")
    assert f'id="exc-{exc_id}"' not in other
    assert 'id="no-excursions"' in other
    closed = await page(operator, "/qa/excursions?status=closed")
    assert f'id="exc-{exc_id}"' not in closed
    await page(operator, f"/qa/excursions?start={window['end']}&end={window['start']}", 400)
    await page(operator, "/qa/excursions?status=nonsense", 400)

    detail = await page(operator, f"/qa/excursions/{exc_id}")
    assert HASH.search(detail)
    assert "Olivia Operator (olivia) — acknowledged — " in detail  # the operator's signature
    assert "door held open" in detail
    assert "pressure back" in detail
    for kind in ("raised", "acknowledged", "cleared"):
        assert f'data-kind="{kind}"' in detail, kind
    readings = re.search(r'<section id="readings">(.*?)</section>', detail, re.S)
    assert readings is not None
    assert "<dt>Readings</dt>" in readings.group(1)
    assert "5.00 Pa" in readings.group(1)  # the forced pressure: min and peak
    assert 'id="comment-form"' in detail
    assert 'id="review-form"' not in detail  # an operator is not offered QA's forms
    assert 'id="close-form"' not in detail
    await page(operator, "/qa/excursions/999999", 404)
    await page(operator, "/qa/excursions/abc", 400)
    qa, csrf = await site.login("quinn")
    for ref, status in (("999999", 404), ("abc", 400)):
        async with qa.post(f"/qa/excursions/{ref}/close", allow_redirects=False, data={
                "password": PASSWORD, "record_hash": "0" * 64, "csrf_token": csrf}) as r:
            assert r.status == status, ref


async def test_comment_review_and_sign_off_from_the_page(site: Daemon) -> None:
    exc_id = await final_excursion(site)
    base = f"/qa/excursions/{exc_id}"
    obj = f"excursion:{exc_id}"
    head = audit_head(site.data_dir)

    operator, op_csrf = await site.login("olivia")
    _, body = await post(operator, f"{base}/comment", {"comment": "hatch open"}, 403)
    assert "CSRF" in body
    await post(operator, f"{base}/comment", {"comment": "hatch open", "csrf_token": "forged"},
               403)
    where, _ = await post(operator, f"{base}/comment",
                          {"comment": "transfer hatch was open", "csrf_token": op_csrf})
    assert where == f"{base}?done=comment"
    shown = await page(operator, where)
    assert "Comment added." in shown
    assert "Olivia Operator (olivia): " in shown
    assert "transfer hatch was open" in shown
    _, body = await post(operator, f"{base}/review",
                         {"root_cause": "personnel", "csrf_token": op_csrf}, 403)
    assert "olivia" in body
    assert "may not review excursion" in body

    qa, csrf = await site.login("quinn")
    _, body = await post(qa, f"{base}/close", {"password": PASSWORD, "csrf_token": csrf,
                                               "record_hash": "0" * 64}, 409)
    assert "changed since this page was opened" in body
    current = HASH.search(await page(qa, base))
    assert current is not None
    _, body = await post(qa, f"{base}/close", {"password": PASSWORD, "csrf_token": csrf,
                                               "record_hash": current.group(1)}, 422)
    assert "has not been reviewed yet" in body
    _, body = await post(qa, f"{base}/review", {"root_cause": "gremlins",
                                                "deviation": "DEV-1", "csrf_token": csrf}, 422)
    assert "root cause: Input should be" in body
    assert 'value="DEV-1"' in body  # what was typed is kept for correcting
    review = {"root_cause": "personnel", "root_cause_detail": "hatch left open",
              "impact": "minor", "impact_assessment": "no product exposed",
              "deviation": "DEV-2026-0412", "capa": "CAPA-2026-0087",
              "comment": "operator retrained", "csrf_token": csrf}
    where, _ = await post(qa, f"{base}/review", review)
    shown = await page(qa, where)
    assert "Review recorded." in shown
    assert "DEV-2026-0412" in shown
    assert "CAPA-2026-0087" in shown
    assert 'id="close-form"' in shown
    assert "I, <strong>Quinn Quality</strong> (quinn), sign this excursion record" in shown
    current = HASH.search(shown)
    assert current is not None

    admin, admin_csrf = await site.login("ada")
    _, body = await post(admin, f"{base}/close", {"password": PASSWORD, "csrf_token":
                                                  admin_csrf, "record_hash": current.group(1)},
                         403)
    assert "may not close excursion" in body
    _, body = await post(qa, f"{base}/close", {"password": "not-my-password", "comment": "ok",
                                               "csrf_token": csrf,
                                               "record_hash": current.group(1)}, 403)
    assert "not-my-password" not in body
    assert ">ok</textarea>" in body  # the comment is kept, the password is not
    assert 'data-status="closed"' not in body
    where, _ = await post(qa, f"{base}/close", {"password": PASSWORD, "meaning": "approved",
                                                "comment": "closed after retraining",
                                                "csrf_token": csrf,
                                                "record_hash": current.group(1)})
    assert where == f"{base}?done=close"
    signed = await page(qa, where)
    assert "Review closed and signed." in signed
    manifestation = re.search(r'<p class="manifestation" id="manifestation">([^<]+)</p>',
                              signed)
    assert manifestation is not None
    assert re.fullmatch(r"Quinn Quality \(quinn\) — approved — "
                        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ UTC", manifestation.group(1))
    assert "<dt>Meaning</dt><dd>approved</dd>" in signed
    assert "<dt>Signed by (printed name)</dt><dd>Quinn Quality</dd>" in signed
    assert re.search(r"<dt>Date and time \(UTC\)</dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC",
                     signed)
    assert 'id="signature-check">verified<' in signed
    assert f'<code id="signed-hash">{current.group(1)}</code> (matches)' in signed
    assert 'id="close-form"' not in signed
    assert 'id="review-form"' not in signed
    listing = await page(qa, "/qa/excursions?status=closed")
    assert f'<tr id="exc-{exc_id}" data-status="closed">' in listing
    assert "Quinn Quality, approved" in listing
    _, body = await post(qa, f"{base}/comment", {"comment": "late", "csrf_token": csrf}, 422)
    assert "is closed" in body

    actions = audit_actions(site.data_dir, head)
    ours = [a for a in actions if a[1] != "user.login" and (
        a[2] in (obj, "user:quinn") or a[2].startswith(f"http:POST {base}"))]
    assert ours == [
        ("olivia", "access.denied", f"http:POST {base}/comment"),  # no CSRF token
        ("olivia", "access.denied", f"http:POST {base}/comment"),  # a forged one
        ("olivia", "excursion.commented", obj),
        ("olivia", "access.denied", f"http:POST {base}/review"),
        ("quinn", "excursion.review_started", obj),
        ("ada", "access.denied", f"http:POST {base}/close"),
        ("quinn", "signature.failed", "user:quinn"),
        ("quinn", "signature.applied", obj),
        ("quinn", "excursion.closed", obj),
    ], ours

    with AuditTrail(site.data_dir) as trail:  # the entries' content is the API's too
        commented = trail.entries(action="excursion.commented", after_seq=head)[-1]
        closing = trail.entries(action="excursion.closed", after_seq=head)[-1]
        applied = trail.entries(action="signature.applied", after_seq=head)[-1]
    assert commented.new_value == {"comment": "transfer hatch was open"}
    assert closing.reason == "closed after retraining"
    assert closing.new_value["root_cause"] == "personnel"
    assert closing.new_value["signature"] == applied.new_value["id"]
    assert applied.new_value["record_hash"] == current.group(1)
    assert applied.new_value["printed_name"] == "Quinn Quality"

    def verify() -> str | None:  # the CLI and the reports verify the page's signature too
        with open_qa(load_config(site.config_path)) as ctx:
            exc, state = ctx.review.get(str(exc_id))
            assert state.signature is not None
            assert state.signature.record_hash == current.group(1)
            return ctx.review.verify_closure(exc, state)

    assert await asyncio.to_thread(verify) is None


async def test_a_form_from_another_site_is_refused(site: Daemon) -> None:
    """Even with the session's token: a foreign Origin is refused (and audited) first."""
    head = audit_head(site.data_dir)
    qa, csrf = await site.login("quinn")
    async with qa.post("/qa/excursions/1/comment", allow_redirects=False,
                       data={"comment": "hi", "csrf_token": csrf},
                       headers={"Origin": "https://evil.example"}) as r:
        assert r.status == 403
        assert "cross-origin request refused" in await r.text()
    assert audit_actions(site.data_dir, head) == [
        ("quinn", "user.login", "user:quinn"),
        ("quinn", "access.denied", "http:POST /qa/excursions/1/comment")]


async def test_anonymous_posts_are_refused_and_audited(site: Daemon) -> None:
    head = audit_head(site.data_dir)
    anonymous = site.client(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with anonymous.post("/qa/excursions/1/comment", data={"comment": "hi"},
                              allow_redirects=False) as r:
        assert r.status == 303
        assert r.headers["Location"].startswith("/login?next=")
    assert ("unauthenticated", "access.denied", "http:POST /qa/excursions/1/comment") in \
        audit_actions(site.data_dir, head)
