"""What a report says, independent of how it is rendered (HTML, CSV, JSON, PDF)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor.errors import MonitorError
from monitor.qa.excursions import Excursion
from monitor.qa.workflow import ReviewState

from .stats import CalibrationFlags, ChannelSummary, GapSpan, Span


class EmptyReport(MonitorError):
    """Nothing was recorded in the requested range: no report is made, rather than one
    that could be read as "a clean period"."""


@dataclass
class ReportHeader:
    kind: str  # "excursions" or "period"
    site_id: str
    site_name: str
    from_ns: int
    to_ns: int
    location: str | None
    generated_by: str
    generated_ns: int
    config_path: str
    config_sha256: str
    software: str
    config_changes: list[dict[str, Any]] = field(default_factory=list)
    integrity: dict[str, str] = field(default_factory=dict)  # record -> "ok" or the problem

    @property
    def integrity_ok(self) -> bool:
        return all(v == "ok" for v in self.integrity.values())


@dataclass
class ExcursionItem:
    excursion: Excursion
    review: ReviewState
    unit: str
    closure_problem: str | None  # why the QA signature does not verify (None: fine or none)
    readings: int  # readings stored in the plot window
    plot_svg: str | None = None
    #: per acknowledgement: None (no signature), "ok", or why its signature does not verify
    ack_checks: list[str | None] = field(default_factory=list)
    #: maintenance-mode stretches and calibration-overdue readings within the plot window
    maintenance: list[Span] = field(default_factory=list)
    calibration: CalibrationFlags = field(default_factory=CalibrationFlags)

    def to_json(self) -> dict[str, Any]:
        r = self.review
        return {
            "excursion": self.excursion.record(),
            "unit": self.unit,
            "review": {
                "status": r.status.value, "assessment": r.assessment, "comments": r.comments,
                "reviewers": r.reviewers, "started_ns": r.started_ns, "closed_ns": r.closed_ns,
                "signature": r.signature.to_dict() if r.signature else None,
                "signature_valid": (None if r.signature is None
                                    else self.closure_problem is None),
                "signature_problem": self.closure_problem,
            },
            "readings_in_plot_window": self.readings,
            "maintenance_in_plot_window": [m.__dict__ for m in self.maintenance],
            "calibration_overdue_in_plot_window": dict(self.calibration.__dict__),
            "acknowledgement_signatures": self.ack_checks,
        }


@dataclass
class Report:
    header: ReportHeader
    excursions: list[ExcursionItem] = field(default_factory=list)
    channels: list[ChannelSummary] = field(default_factory=list)  # period reports
    daemon_gaps: list[GapSpan] = field(default_factory=list)
    readings: int = 0  # readings stored in the range (all matching channels)
    notes: list[str] = field(default_factory=list)
    calibration: list[dict[str, Any]] = field(default_factory=list)  # at the period's end

    def to_json(self) -> dict[str, Any]:
        return {
            "header": {**self.header.__dict__, "integrity_ok": self.header.integrity_ok},
            "readings": self.readings,
            "notes": self.notes,
            "daemon_gaps": [g.__dict__ for g in self.daemon_gaps],
            "channels": [c.to_json() for c in self.channels],
            "calibration": self.calibration,
            "excursions": [e.to_json() for e in self.excursions],
        }
