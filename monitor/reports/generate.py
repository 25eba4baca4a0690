"""Making a report file and putting its making on record.

The audit entry names who generated which report, for which period and
location, in which format, and the SHA-256 of the file written, so that a
copy handed to an inspector can be matched to its entry. A refused report
(no data in the range) is audited too.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from monitor.audit import Action, iso_utc
from monitor.errors import MonitorError

from . import FORMATS
from .build import ReportSources, build_report
from .html import render_html
from .model import EmptyReport, Report
from .tabular import render_csv, render_json

__all__ = ["FORMATS", "Written", "write_report"]


@dataclass(frozen=True)
class Written:
    path: Path
    sha256: str
    report: Report


def write_report(sources: ReportSources, kind: str, fmt: str, *, from_ns: int, to_ns: int,
                 location: str | None, generated_by: str, now_ns: int, output: Path) -> Written:
    if fmt not in FORMATS:
        raise MonitorError(f"unknown report format {fmt!r} (one of {', '.join(FORMATS)})")
    scope = {"kind": kind, "format": fmt, "from": iso_utc(from_ns), "to": iso_utc(to_ns),
             "location": location}
    obj = f"report:{kind}"
    try:
        report = build_report(sources, kind, from_ns, to_ns, location=location,
                              generated_by=generated_by, now_ns=now_ns,
                              plots=fmt in ("html", "pdf"))
    except EmptyReport as err:
        sources.audit.record(generated_by, Action.REPORT_REFUSED, obj,
                             new={**scope, "why": str(err)})
        raise
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".part")
    if fmt == "pdf":
        from .pdf import html_to_pdf

        html_to_pdf(render_html(report), tmp)
    else:
        text = {"html": render_html, "csv": render_csv, "json": render_json}[fmt](report)
        tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, output)
    digest = hashlib.sha256(output.read_bytes()).hexdigest()
    sources.audit.record(generated_by, Action.REPORT_GENERATED, obj, new={
        **scope, "output": str(output), "sha256": digest,
        "excursions": len(report.excursions), "channels": len(report.channels),
        "readings": report.readings, "integrity": report.header.integrity,
    })
    return Written(output, digest, report)
