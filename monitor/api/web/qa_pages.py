"""QA's excursion pages: the work list, one excursion, comment, review and the signed closure.

Every read and every change goes through the API's own route (``forms.run``
with the handlers of ``monitor.api.routes.qa``): the same permission, CSRF
token, body model, workflow call and audit entries as ``/api/v1/qa/...``.
Closing is an electronic signature exactly as in the API (password again,
meaning, bound by ``ExcursionReview.close`` to the hash of the record and its
review events); the form also carries the record hash the reviewer was shown,
and a record that changed since the page was opened is refused before
anything is signed, so nobody signs what they have not seen. A success
redirects (303), a refusal shows the page again with the API's reason, the
fields kept (never the password) and the API's status.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from typing import Any
from urllib.parse import quote

from aiohttp import web
from pydantic import ValidationError

from monitor.api.auth import authenticate
from monitor.api.context import CTX, ApiContext
from monitor.api.errors import ApiError
from monitor.api.history import HistoryQuery, HistoryReader
from monitor.api.routes import qa
from monitor.api.routing import Handler
from monitor.errors import MonitorError
from monitor.qa.excursions import AlarmLogSource
from monitor.qa.workflow import closure_record
from monitor.signatures import Signature, record_hash

from . import forms, qa_views
from .pages import _page
from .render import Markup, esc, join
from .views import alarm_units

#: Fields each form may send to its API route (anything else is not passed on).
FIELDS = {
    "review": ("comment", "root_cause", "root_cause_detail", "impact", "impact_assessment",
               "deviation", "capa"),
    "comment": ("comment",),
    "close": ("password", "meaning", "comment"),
}
HANDLERS: dict[str, Handler] = {"review": qa.post_review, "comment": qa.post_comment,
                                "close": qa.post_close}
LOCAL_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?$")
READINGS_LIMIT = 20_000



def _utc(text: str) -> str:
    """A ``datetime-local`` field (no zone) is UTC on these pages; ISO 8601 with a zone as is."""
    return text + "Z" if LOCAL_TIME.match(text) else text


def _local(iso: str | None) -> str:
    return (iso or "")[:16]


async def list_page(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    principal = await authenticate(request, ctx)
    params = {k: request.query.get(k, "").strip()[:64]
              for k in ("status", "location", "start", "end")}
    raw = {k: _utc(v) if k in ("start", "end") else v for k, v in params.items() if v}
    try:
        query = qa.ListQuery.model_validate(raw)
    except ValidationError as err:
        raise ApiError(400, "invalid_query", "the filter is not valid: " + "; ".join(
            f"{e['loc'][0]}: {e['msg']}" for e in err.errors(include_url=False))) from err
    outcome = await forms.run(request, qa.list_reviews, query=query)
    forms.raise_for(outcome, request.path_qs)
    filters = {**params, "start": _local(params["start"] and outcome.data["start"]),
               "end": _local(params["end"] and outcome.data["end"])}
    body = qa_views.work_list(ctx.runtime, outcome.data, filters, Markup(""))
    return _page("Excursion review", body, principal, nav="qa")


async def detail_page(request: web.Request) -> web.StreamResponse:
    done = request.query.get("done")
    note = qa_views.notice("ok", qa_views.DONE[done]) if done in qa_views.DONE else Markup("")
    return await _detail(request, note)


async def _detail(request: web.Request, note: Markup, *, status: int = 200, action: str = "",
                  kept: dict[str, str] | None = None) -> web.Response:
    ctx = request.app[CTX]
    principal = await authenticate(request, ctx)
    ref = request.match_info["excursion"]
    outcome = await forms.run(request, qa.get_review)
    forms.raise_for(outcome, f"/qa/excursions/{ref}")
    rec, review = outcome.data["excursion"], outcome.data["review"]
    current, events = await asyncio.to_thread(_record_facts, ctx, ref)
    limit_unit, peak_unit = alarm_units(
        str(rec["rule"]), ctx.runtime.loaded.channels.get(str(rec["channel"])))
    summary = await _readings(ctx, rec)
    names = {u.username: u.full_name for u in ctx.users.users()}
    signed_hash = review["signature"]["record_hash"] if review.get("signature") else None
    acks = rec.get("acknowledgements", [])
    body = join([
        Markup(f"<h1>Excursion {esc(ref)} {qa_views.status_badge(review['status'])}"
               f" <small>{esc(rec['location'])} · {esc(rec['channel'])}"
               "</small></h1>"),
        Markup('<p class="back"><a href="/qa/excursions">← Excursion review</a></p>'),
        note,
        qa_views.signature_section(review),
        Markup('<div class="qa-columns"><div>'),
        qa_views.record_section(ctx.runtime, rec),
        qa_views.readings_section(summary, peak_unit),
        qa_views.acks_section(acks, [_manifestation(a.get("signature")) for a in acks]),
        Markup("</div><div>"),
        qa_views.review_section(review, names),
        qa_views.hash_section(current, signed_hash),
        qa_views.forms_section(ref, principal, str(review["status"]), current,
                               action=action, kept=kept or {}),
        Markup("</div></div>"),
        qa_views.events_section(events, limit_unit),
    ])
    return _page(f"Excursion {ref}", body, principal, nav="qa", status=status)


def _record_facts(ctx: ApiContext, ref: str) -> tuple[str, list[dict[str, Any]]]:
    """The hash a closing signature would be bound to now, and the alarm's events."""
    review = qa.review_of(ctx)
    exc, state = review.get(ref)
    current = record_hash(closure_record(exc, state.review_hashes()))
    events: list[dict[str, Any]] = []
    if isinstance(review.source, AlarmLogSource):
        events = [e.to_json() for e in review.source.log.events(alarm_id=exc.alarm_id)]
    return current, events


def _manifestation(signature: Any) -> str | None:
    if not isinstance(signature, dict):
        return None
    try:
        return Signature.from_dict(signature).manifestation()
    except MonitorError:  # an unreadable signature shows as none; the reports flag it
        return None


async def _readings(ctx: ApiContext, rec: dict[str, Any]) -> dict[str, Any] | None:
    """Count, quality and min/max/mean of good readings from start to end (now if ongoing)."""
    history = ctx.extras.get("history")
    if not isinstance(history, HistoryReader):
        return None
    start = int(rec["start_ns"])
    end = int(rec["end_ns"]) if rec.get("end_ns") is not None else ctx.clock()
    end = max(end, start + 1)
    try:
        view = await history.query(HistoryQuery(str(rec["channel"]), start, end,
                                                READINGS_LIMIT))
    except MonitorError:
        return None
    points = view["points"]
    good = [p["value"] for p in points if p["quality"] == "good" and p["value"] is not None]
    device, _, name = str(rec["channel"]).partition("/")
    hours = min(max((end - start) / 3.6e12 * 3, 0.25), 72.0)
    return {
        "count": len(points), "good": len(good), "truncated": view["truncated"],
        "qualities": dict(Counter(p["quality"] for p in points).most_common()),
        "min": min(good) if good else None, "max": max(good) if good else None,
        "mean": sum(good) / len(good) if good else None,
        "first_ns": points[0]["ts_ns"] if points else None,
        "last_ns": points[-1]["ts_ns"] if points else None,
        "gaps": [f"{g['cause']} {g['start'][:19]}Z – {(g['end'] or 'open')[:19]}"
                 for g in view["gaps"]],
        "trend": f"/trend/{quote(device)}/{quote(name)}?hours={hours:.2f}",
        "link_text": "The trend chart shows the channel's recent hours; the excursion report "
                     "(cleanroom-monitor report) plots the excursion itself.",
    }


async def submit(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    action = request.match_info["action"]
    ref = request.match_info["excursion"]
    form = await request.post()
    fields = {name: forms.form_text(form, name) for name in FIELDS[action]}
    fields = {k: v for k, v in fields.items() if v}  # blank = not given, as in the API body
    shown_hash = forms.form_text(form, "record_hash", 64)

    async def unchanged() -> None:
        try:
            current, _events = await asyncio.to_thread(_record_facts, ctx, ref)
        except MonitorError:
            return  # no such excursion: the API's handler answers that (404)
        if shown_hash != current:
            raise ApiError(409, "stale", "The record changed since this page was opened "
                           "(its hash differs from the one shown). Read it again, then sign.")

    outcome = await forms.run(request, HANDLERS[action], fields=fields,
                              token=forms.form_token(form),
                              before=unchanged if action == "close" else None)
    if outcome.status == 401:
        raise forms.login_redirect(f"/qa/excursions/{ref}")
    if outcome.ok:
        raise web.HTTPSeeOther(f"/qa/excursions/{quote(ref)}?done={action}")
    kept = {k: v for k, v in fields.items() if k != "password"}
    return await _detail(request, qa_views.notice("error", outcome.message),
                         status=outcome.status, action=action, kept=kept)

