"""The excursion review workflow: open -> under review -> closed, closed only by a QA signature.

Every excursion starts ``open`` (nothing has been recorded about it). QA takes
it ``under_review`` and records comments, a root-cause category, an impact
assessment and deviation/CAPA references; anyone with access may comment.
Closing needs an ended and acknowledged excursion (so that its record is
final), a root cause and an impact assessment, and an electronic signature by
a user with the QA role. The signature is bound to
the excursion record and to every review event before it, so a later change
to either (or pasting the signature onto another excursion) shows up when the
closure is verified. Closed is final: new findings go into a deviation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from monitor.audit import Action, AuditTrail
from monitor.errors import MonitorError
from monitor.integrity import chain_hash
from monitor.signatures import Meaning, Signature, Signer, record_hash
from monitor.users.model import User, require
from monitor.users.roles import Permission

from .excursions import Excursion, ExcursionSource
from .reviewlog import ReviewEvent, ReviewLog


class Status(StrEnum):
    OPEN = "open"
    UNDER_REVIEW = "under_review"
    CLOSED = "closed"


class RootCause(StrEnum):
    EQUIPMENT = "equipment"  # process equipment, doors, interlocks
    HVAC = "hvac"  # air handling, filters, pressure cascade
    PERSONNEL = "personnel"  # gowning, behaviour, too many people
    PROCEDURE = "procedure"  # an SOP not followed or not adequate
    MATERIAL = "material"  # material transfer, packaging
    INSTRUMENT = "instrument"  # the monitoring instrument or system itself (false reading)
    EXTERNAL = "external"  # utilities, construction, weather
    UNKNOWN = "unknown"  # investigated, no cause found
    OTHER = "other"


class Impact(StrEnum):
    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


ASSESSMENT_FIELDS = ("root_cause", "root_cause_detail", "impact", "impact_assessment",
                     "deviation", "capa")


@dataclass
class ReviewState:
    excursion_id: str
    status: Status = Status.OPEN
    comments: list[dict[str, Any]] = field(default_factory=list)
    assessment: dict[str, Any] = field(default_factory=dict)  # latest value of each field
    reviewers: list[str] = field(default_factory=list)
    started_ns: int | None = None
    closed_ns: int | None = None
    signature: Signature | None = None
    events: list[ReviewEvent] = field(default_factory=list)

    def review_hashes(self) -> list[str]:
        """Hashes recomputed from the events' content (not the stored column), so that an
        event edited behind the log's back no longer matches the closing signature."""
        return [chain_hash(e.prev_hash, e.hashed_record()) for e in self.events
                if e.kind != "closed"]


def fold(excursion_id: str, events: list[ReviewEvent]) -> ReviewState:
    state = ReviewState(excursion_id)
    for event in events:
        state.events.append(event)
        values = event.values
        if event.user not in state.reviewers:
            state.reviewers.append(event.user)
        if event.kind == "review_started":
            state.status, state.started_ns = Status.UNDER_REVIEW, event.ts_ns
        elif event.kind == "closed":
            state.status, state.closed_ns = Status.CLOSED, event.ts_ns
            sig = event.signature_dict
            state.signature = Signature.from_dict(sig) if sig else None
        if values.get("comment"):
            state.comments.append({"user": event.user, "ts_ns": event.ts_ns,
                                   "text": values["comment"]})
        for name in ASSESSMENT_FIELDS:
            if values.get(name) is not None:
                state.assessment[name] = values[name]
    return state


def closure_record(excursion: Excursion, review_hashes: list[str]) -> dict[str, Any]:
    """What the closing signature is bound to: the excursion and its review so far."""
    return {"excursion": excursion.record(), "review_events": review_hashes}


class ExcursionReview:
    """QA's operations on excursions; every one is checked, logged and audited."""

    def __init__(self, source: ExcursionSource, log: ReviewLog, signer: Signer,
                 audit: AuditTrail) -> None:
        self.source = source
        self.log = log
        self.signer = signer
        self.audit = audit

    def get(self, excursion_id: str) -> tuple[Excursion, ReviewState]:
        exc = self.source.excursion(excursion_id)
        if exc is None:
            raise MonitorError(f"no excursion {excursion_id!r}")
        return exc, fold(excursion_id, self.log.events(excursion_id))

    def listing(self, from_ns: int, to_ns: int, *, location: str | None = None,
                status: Status | None = None) -> list[tuple[Excursion, ReviewState]]:
        out = []
        for exc in self.source.excursions(from_ns, to_ns, location):
            state = fold(exc.id, self.log.events(exc.id))
            if status is None or state.status == status:
                out.append((exc, state))
        return out

    def review(self, user: User, excursion_id: str, *, comment: str | None = None,
               root_cause: RootCause | str | None = None, root_cause_detail: str | None = None,
               impact: Impact | str | None = None, impact_assessment: str | None = None,
               deviation: str | None = None, capa: str | None = None) -> ReviewState:
        """Start the review (open -> under_review) or add to it."""
        require(user, Permission.REVIEW_EXCURSION)
        exc, state = self.get(excursion_id)
        values: dict[str, Any] = {
            "comment": comment,
            "root_cause": None if root_cause is None else RootCause(root_cause).value,
            "root_cause_detail": root_cause_detail,
            "impact": None if impact is None else Impact(impact).value,
            "impact_assessment": impact_assessment, "deviation": deviation, "capa": capa,
        }
        values = {k: v for k, v in values.items() if v not in (None, "")}
        starting = state.status == Status.OPEN
        if not starting and not values:
            raise MonitorError("nothing to record: give a comment or an assessment field")
        kind = "review_started" if starting else "updated"
        self.log.append(excursion_id, kind, user.username, values,
                        check=lambda events: _not_closed(excursion_id, events))
        changed = {k: v for k, v in values.items() if k != "comment"}
        self.audit.record(
            user.username, Action.REVIEW_STARTED if starting else Action.REVIEW_UPDATED,
            f"excursion:{excursion_id}",
            old={"status": state.status.value,
                 **{k: state.assessment.get(k) for k in changed}},
            new={"status": Status.UNDER_REVIEW.value, **changed}, reason=comment)
        return self.get(exc.id)[1]

    def comment(self, user: User, excursion_id: str, text: str) -> ReviewState:
        """Anyone who may view may comment (an engineer's finding, an operator's account)."""
        require(user, Permission.VIEW)
        if not text.strip():
            raise MonitorError("an empty comment")
        self.get(excursion_id)
        self.log.append(excursion_id, "commented", user.username, {"comment": text},
                        check=lambda events: _not_closed(excursion_id, events))
        self.audit.record(user.username, Action.REVIEW_COMMENTED, f"excursion:{excursion_id}",
                          new={"comment": text})
        return self.get(excursion_id)[1]

    def close(self, username: str, password: str, excursion_id: str, *,
              meaning: Meaning | str = Meaning.REVIEWED, comment: str | None = None,
              source: str | None = None) -> ReviewState:
        """Close the review with the QA signature of ``username`` (password re-entered)."""
        exc, state = self.get(excursion_id)
        if state.status == Status.CLOSED:
            raise MonitorError(f"excursion {excursion_id} is already closed")
        if state.status == Status.OPEN:
            raise MonitorError(f"excursion {excursion_id} has not been reviewed yet")
        if exc.ongoing:
            raise MonitorError(f"excursion {excursion_id} is still going on; it can be closed "
                               "once the condition has ended")
        if not exc.finished:
            raise MonitorError(f"the alarm of excursion {excursion_id} is not yet acknowledged "
                               "back to normal; its record is not final")
        missing = [n for n in ("root_cause", "impact") if n not in state.assessment]
        if missing:
            raise MonitorError(f"excursion {excursion_id} cannot be closed without: "
                               + ", ".join(missing))
        hashes = state.review_hashes()
        signature = self.signer.sign(
            username, password, meaning=meaning, record_type="excursion",
            record_id=excursion_id, record_hash=record_hash(closure_record(exc, hashes)),
            permission=Permission.CLOSE_EXCURSION, comment=comment, source=source)

        def unchanged(events: list[ReviewEvent]) -> None:
            _not_closed(excursion_id, events)
            if fold(excursion_id, events).review_hashes() != hashes:
                raise MonitorError("the review changed while it was being signed; sign again")

        self.log.append(excursion_id, "closed", username, {"comment": comment},
                        signature=signature.to_dict(), check=unchanged)
        self.audit.record(username, Action.REVIEW_CLOSED, f"excursion:{excursion_id}",
                          old={"status": state.status.value},
                          new={"status": Status.CLOSED.value, "signature": signature.id,
                               **state.assessment}, reason=comment)
        return self.get(excursion_id)[1]

    def verify_closure(self, excursion: Excursion, state: ReviewState) -> str | None:
        """Why a closed review's signature does not hold (None if it does or it is not closed)."""
        if state.status != Status.CLOSED:
            return None
        if state.signature is None:
            return "closed without a signature"
        digest = record_hash(closure_record(excursion, state.review_hashes()))
        return self.signer.verify(state.signature, record_type="excursion",
                                  record_id=excursion.id, record_hash=digest)


def _not_closed(excursion_id: str, events: list[ReviewEvent]) -> None:
    if any(e.kind == "closed" for e in events):
        raise MonitorError(f"excursion {excursion_id} is closed; its review cannot change")
