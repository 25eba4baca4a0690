"""The review workflow: states, roles, signatures, and what closing demands."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest

from monitor.errors import AuthError, MonitorError
from monitor.qa.excursions import RecordsSource
from monitor.qa.workflow import ExcursionReview, Status

from .conftest import PASSWORD, QA
from .events import T0, S, end_second, two_excursions


def test_excursions_are_derived_from_alarm_events() -> None:
    source = RecordsSource(two_excursions().records)
    first, second = source.excursions(T0, T0 + 86400 * S)
    assert (first.id, first.start_ns, first.end_ns) == ("1", T0 + 590 * S, T0 + 895 * S)
    assert first.raised_ns == T0 + 600 * S
    assert first.peak == 520000.0
    assert first.limit == 352000.0
    assert first.limit_value("high_alert") == 300000.0
    assert first.level == "action"
    assert [a.user for a in first.acknowledgements] == ["op1", "op1"]
    assert first.acknowledgements[0].signature == {"id": "sig-op1", "meaning": "acknowledged"}
    assert first.duration_s() == 305.0
    assert first.finished
    assert second.ongoing
    assert not second.finished


def test_listing_by_window_location_and_status(qa: QA) -> None:
    everything = qa.review.listing(T0, T0 + 86400 * S)
    assert [(e.id, s.status) for e, s in everything] == [("1", Status.OPEN), ("2", Status.OPEN)]
    assert [e.id for e, _ in qa.review.listing(T0 + 1000 * S, T0 + 2000 * S)] == []
    assert [e.id for e, _ in qa.review.listing(T0 + 3500 * S, T0 + 4000 * S)] == ["2"]
    assert qa.review.listing(T0, T0 + 86400 * S, location="fill-1") == []


def test_full_review_and_close(qa: QA) -> None:
    state = qa.review.review(qa.qa1, "1", comment="taking this")
    assert state.status == Status.UNDER_REVIEW
    qa.review.comment(qa.eng1, "1", "door closer on airlock 2 was broken")
    state = qa.review.review(qa.qa1, "1", root_cause="equipment",
                             root_cause_detail="door closer broken", impact="minor",
                             impact_assessment="no open product; filling not running",
                             deviation="DEV-2026-031", capa="CAPA-2026-012")
    assert state.assessment["deviation"] == "DEV-2026-031"
    assert [c["user"] for c in state.comments] == ["qa1", "eng1"]
    closed = qa.review.close("qa1", PASSWORD, "1", comment="closed per SOP-QA-017")
    assert closed.status == Status.CLOSED
    assert closed.signature is not None
    assert closed.signature.printed_name == "Quentin Assurance"
    assert closed.signature.meaning == "reviewed"
    exc, state = qa.review.get("1")
    assert qa.review.verify_closure(exc, state) is None
    actions = [e.action for e in qa.trail.entries(object_prefix="excursion:1")]
    assert actions == ["excursion.review_started", "excursion.commented",
                       "excursion.review_updated", "signature.applied", "excursion.closed"]
    assert qa.trail.verify() is None
    assert qa.log.verify() is None
    with pytest.raises(MonitorError, match="already closed"):
        qa.review.close("qa1", PASSWORD, "1")
    with pytest.raises(MonitorError, match="is closed; its review cannot change"):
        qa.review.comment(qa.eng1, "1", "late remark")


def test_only_qa_reviews(qa: QA) -> None:
    with pytest.raises(AuthError, match="may not review excursion"):
        qa.review.review(qa.op1, "1", comment="looks fine")
    with pytest.raises(AuthError):
        qa.review.review(qa.eng1, "1", root_cause="hvac")
    assert qa.review.get("1")[1].status == Status.OPEN


def test_close_requires_review_assessment_and_an_ended_excursion(qa: QA) -> None:
    with pytest.raises(MonitorError, match="not been reviewed"):
        qa.review.close("qa1", PASSWORD, "1")
    qa.review.review(qa.qa1, "1", root_cause="personnel")
    with pytest.raises(MonitorError, match="without: impact"):
        qa.review.close("qa1", PASSWORD, "1")
    qa.review.review(qa.qa1, "2", root_cause="hvac", impact="major")
    with pytest.raises(MonitorError, match="still going on"):
        qa.review.close("qa1", PASSWORD, "2")
    with pytest.raises(ValueError, match="'weather'"):
        qa.review.review(qa.qa1, "1", root_cause="weather")


def test_wrong_password_at_signing(qa: QA) -> None:
    qa.review.review(qa.qa1, "1", root_cause="personnel", impact="none")
    with pytest.raises(AuthError, match="invalid user name or password"):
        qa.review.close("qa1", "Not-the-password-1", "1")
    assert qa.review.get("1")[1].status == Status.UNDER_REVIEW
    failed = qa.trail.entries(action="signature.failed")
    assert [(e.user, e.new_value["why"]) for e in failed] == [("qa1", "wrong password")]


def test_signing_without_the_qa_role(qa: QA) -> None:
    qa.review.review(qa.qa1, "1", root_cause="personnel", impact="none")
    with pytest.raises(AuthError, match="signature refused"):
        qa.review.close("eng1", PASSWORD, "1")
    assert qa.review.get("1")[1].status == Status.UNDER_REVIEW
    refused = qa.trail.entries(action="signature.refused")
    assert [e.user for e in refused] == ["eng1"]


def test_signature_copied_to_another_excursion_fails(qa: QA) -> None:
    qa.review.review(qa.qa1, "1", root_cause="personnel", impact="none")
    closed = qa.review.close("qa1", PASSWORD, "1")
    assert closed.signature is not None
    # excursion 2 has ended in this version of the record; a closure is forged by
    # writing excursion 1's signature into the review log of excursion 2
    w = two_excursions()
    end_second(w)
    review = ExcursionReview(RecordsSource(w.records), qa.log, qa.signer, qa.trail)
    review.review(qa.qa1, "2", root_cause="hvac", impact="minor")
    qa.log.append("2", "closed", "qa1", {}, signature=closed.signature.to_dict())
    exc, state = review.get("2")
    assert state.status == Status.CLOSED
    problem = review.verify_closure(exc, state)
    assert problem is not None
    assert "copied from another record" in problem


def test_excursion_record_changed_after_closing_fails(qa: QA) -> None:
    qa.review.review(qa.qa1, "1", root_cause="personnel", impact="none")
    qa.review.close("qa1", PASSWORD, "1")
    exc, state = qa.review.get("1")
    lower_peak = replace(exc, peak=400001.0)
    problem = qa.review.verify_closure(lower_peak, state)
    assert problem == "the record was changed after it was signed (its hash differs)"


def test_review_log_tampering_is_caught(qa: QA) -> None:
    qa.review.review(qa.qa1, "1", root_cause="personnel", impact="minor")
    qa.review.close("qa1", PASSWORD, "1")
    conn = sqlite3.connect(qa.log.path, isolation_level=None)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE review_events SET data = '{}'")
    conn.execute("DROP TRIGGER review_events_no_update")
    conn.execute("""UPDATE review_events SET data = '{"impact":"none","root_cause":"personnel"}'
                    WHERE seq = 1""")
    conn.close()
    problem = qa.log.verify()
    assert problem is not None
    assert problem.seq == 1
    # and the closure no longer verifies: the review it was bound to changed
    exc, state = qa.review.get("1")
    assert qa.review.verify_closure(exc, state) is not None


def test_unknown_excursion(qa: QA) -> None:
    with pytest.raises(MonitorError, match="no excursion '99'"):
        qa.review.review(qa.qa1, "99", comment="?")
