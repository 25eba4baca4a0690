"""The report as JSON (everything, for tools) or CSV (one table, for spreadsheets)."""

from __future__ import annotations

import csv
import io
import json

from monitor.audit import iso_utc

from .model import Report

EXCURSION_COLUMNS = (
    "id", "location", "channel", "rule", "level", "priority", "start_utc", "end_utc",
    "duration_s", "peak", "peak_utc", "limit", "unit", "location_state", "acknowledged_by",
    "review_status", "root_cause", "impact", "deviation", "capa", "closed_by", "closed_utc",
    "signature_valid",
)
CHANNEL_COLUMNS = (
    "location", "channel", "quantity", "unit", "readings", "good", "min", "max", "mean",
    "time_alert_s", "time_action_s", "time_maintenance_s", "maintenance_readings",
    "calibration_overdue_readings", "gaps", "gap_s", "coverage",
)


def render_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False, default=str) + "\n"


def _utc(ts_ns: int | None) -> str:
    return "" if ts_ns is None else iso_utc(ts_ns)


def render_csv(report: Report) -> str:
    """Excursion reports: one row per excursion. Period reports: one row per channel (the
    excursions of a period are in its excursion report or its JSON)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if report.header.kind == "period":
        writer.writerow(CHANNEL_COLUMNS)
        for c in report.channels:
            writer.writerow([c.location, c.channel, c.quantity, c.unit, c.readings, c.good,
                             c.min, c.max, c.mean, round(c.time_alert_s, 3),
                             round(c.time_action_s, 3), round(c.time_maintenance_s, 3),
                             c.maintenance_readings, c.calibration.readings, len(c.gaps),
                             round(c.gap_s, 3),
                             round(c.coverage, 6)])
        return buf.getvalue()
    writer.writerow(EXCURSION_COLUMNS)
    for item in report.excursions:
        x, r = item.excursion, item.review
        sig = r.signature
        writer.writerow([
            x.id, x.location, x.channel, x.rule, x.level, x.priority, _utc(x.start_ns),
            _utc(x.end_ns), x.duration_s(), x.peak, _utc(x.peak_ns), x.limit, item.unit,
            x.location_state, ";".join(a.user for a in x.acknowledgements), r.status.value,
            r.assessment.get("root_cause", ""), r.assessment.get("impact", ""),
            r.assessment.get("deviation", ""), r.assessment.get("capa", ""),
            sig.printed_name if sig else "", sig.ts_iso if sig else "",
            "" if sig is None else item.closure_problem is None,
        ])
    return buf.getvalue()
