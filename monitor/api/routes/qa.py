"""QA's excursion review over HTTP: the work list, review, comments and the signed closure.

The same workflow as ``cleanroom-monitor excursions`` (``monitor.qa.workflow``):
excursions come from the alarm engine's event log (``alarms.db``, read-only,
the derivation the CLI and the reports read, so a signature made here
verifies there), every change is an event in the chained review log
(``qa.db``) and an audit entry. Closing is an electronic signature: the
password again, the meaning, bound to the hash of the excursion record and
of every review event before it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AwareDatetime, Field

from monitor.api.context import ApiContext, source_of
from monitor.api.errors import ApiError, bad_request
from monitor.api.routing import ApiRequest, NoQuery, Strict, ok
from monitor.api.views import time_view
from monitor.errors import AuthError, MonitorError
from monitor.qa.workflow import ExcursionReview, Impact, ReviewState, RootCause, Status
from monitor.signatures import Meaning

REVIEW = "qa_review"
Text = Annotated[str, Field(min_length=1, max_length=4000)]
Ref = Annotated[str, Field(min_length=1, max_length=200)]


def review_of(ctx: ApiContext) -> ExcursionReview:
    """The review workflow, opened on first use and closed with the runtime."""
    found = ctx.extras.get(REVIEW)
    if isinstance(found, ExcursionReview):
        return found
    from monitor.qa.excursions import AlarmLogSource
    from monitor.qa.reviewlog import ReviewLog

    data_dir = ctx.runtime.loaded.config.data_dir
    try:
        source = AlarmLogSource(data_dir)
    except MonitorError as err:
        raise ApiError(503, "alarms_unavailable", str(err)) from err
    shared = ctx.runtime.extras.get("review_log")  # the one whose head the daemon publishes
    log = shared if isinstance(shared, ReviewLog) else ReviewLog(data_dir)
    review = ExcursionReview(source, log, ctx.signer, ctx.audit)
    ctx.extras[REVIEW] = review

    async def close() -> None:
        source.close()
        if log is not shared:
            log.close()

    ctx.runtime.closers.append(close)
    return review


def _state_view(state: ReviewState) -> dict[str, Any]:
    return {
        "status": state.status.value,
        "assessment": dict(state.assessment),
        "comments": [{**c, "ts": time_view(c["ts_ns"])} for c in state.comments],
        "reviewers": list(state.reviewers),
        "started": time_view(state.started_ns),
        "closed": time_view(state.closed_ns),
        "signature": None if state.signature is None else {
            **state.signature.to_dict(), "manifestation": state.signature.manifestation()},
        "events": len(state.events),
    }


def _excursion_view(review: ExcursionReview, exc: Any, state: ReviewState) -> dict[str, Any]:
    record = exc.record()
    for key in ("start_ns", "raised_ns", "end_ns", "closed_ns", "peak_ns"):
        record[key.removesuffix("_ns") + "_ts"] = time_view(record.get(key))
    record["ongoing"] = exc.ongoing
    record["finished"] = exc.finished
    view = {"excursion": record, "review": _state_view(state)}
    if state.status is Status.CLOSED:
        problem = review.verify_closure(exc, state)
        view["review"]["signature_valid"] = problem is None
        view["review"]["signature_problem"] = problem
    return view


class ListQuery(Strict):
    status: Literal["awaiting", "open", "under_review", "closed", "all"] = Field(
        "awaiting", description="'awaiting' = open or under review (QA's work list)")
    start: AwareDatetime | None = Field(None, description="UTC; default end - 30 days")
    end: AwareDatetime | None = Field(None, description="UTC; default now")
    location: str | None = Field(None, max_length=64)


async def list_reviews(req: ApiRequest[ListQuery, None]) -> web.StreamResponse:
    q = req.query
    end = q.end or datetime.now(UTC)
    start = q.start or end - timedelta(days=30)
    if start >= end:
        raise bad_request("start must be before end")
    from_ns, to_ns = int(start.timestamp() * 1e9), int(end.timestamp() * 1e9)
    review = review_of(req.ctx)
    rows = await asyncio.to_thread(review.listing, from_ns, to_ns, location=q.location)
    if q.status == "awaiting":
        wanted = {Status.OPEN, Status.UNDER_REVIEW}
    elif q.status == "all":
        wanted = set(Status)
    else:
        wanted = {Status(q.status)}
    return ok({"start": time_view(from_ns), "end": time_view(to_ns), "status": q.status,
               "excursions": [_excursion_view(review, e, s) for e, s in rows
                              if s.status in wanted]})


async def _get(req: ApiRequest[Any, Any]) -> tuple[ExcursionReview, Any, ReviewState]:
    review = review_of(req.ctx)
    ref = req.path("excursion")
    if not ref.isdigit():
        raise bad_request("an excursion id is the alarm id, a number")
    try:
        exc, state = await asyncio.to_thread(review.get, ref)
    except MonitorError as err:
        raise ApiError(404, "not_found", str(err)) from err
    return review, exc, state


async def get_review(req: ApiRequest[NoQuery, None]) -> web.StreamResponse:
    review, exc, state = await _get(req)
    return ok(_excursion_view(review, exc, state))


class ReviewBody(Strict):
    comment: Text | None = None
    root_cause: RootCause | None = None
    root_cause_detail: Text | None = None
    impact: Impact | None = None
    impact_assessment: Text | None = None
    deviation: Ref | None = Field(None, description="Deviation record reference")
    capa: Ref | None = Field(None, description="CAPA reference")


async def post_review(req: ApiRequest[NoQuery, ReviewBody]) -> web.StreamResponse:
    """Start the review (open -> under_review) or add to it; QA only."""
    assert req.principal is not None
    review, exc, _state = await _get(req)
    fields = req.body.model_dump()
    state = await asyncio.to_thread(review.review, req.principal.user, exc.id, **fields)
    return ok(_excursion_view(review, exc, state))


class CommentBody(Strict):
    comment: Text


async def post_comment(req: ApiRequest[NoQuery, CommentBody]) -> web.StreamResponse:
    """Anyone who may view may add a comment (an engineer's finding, an operator's account)."""
    assert req.principal is not None
    review, exc, _state = await _get(req)
    state = await asyncio.to_thread(review.comment, req.principal.user, exc.id,
                                    req.body.comment)
    return ok(_excursion_view(review, exc, state), status=201)


class CloseBody(Strict):
    password: Annotated[str, Field(min_length=1, max_length=1024,
                                   description="The signer's password again (e-signature)")]
    meaning: Literal["reviewed", "approved"] = "reviewed"
    comment: Text | None = None


async def post_close(req: ApiRequest[NoQuery, CloseBody]) -> web.StreamResponse:
    """Close the review with the QA electronic signature bound to the record's hash."""
    assert req.principal is not None
    review, exc, _state = await _get(req)
    b = req.body
    try:
        state = await asyncio.to_thread(
            review.close, req.principal.username, b.password, exc.id,
            meaning=Meaning(b.meaning), comment=b.comment, source=source_of(req.request))
    except AuthError as err:
        raise ApiError(403, "signature_failed", str(err)) from err
    view = _excursion_view(review, exc, state)
    assert state.signature is not None
    view["signed"] = state.signature.manifestation()
    return ok(view)

