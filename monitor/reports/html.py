"""The report as one self-contained HTML file a QA person can archive and print.

No scripts, no external fonts, images or style sheets: the plots are inline
SVG and the style is in the page, so the file renders the same on an
air-gapped PC in ten years. Every value is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

from monitor.audit import short_utc

from .limits import Limits
from .model import ExcursionItem, Report
from .stats import CalibrationFlags, ChannelSummary, GapSpan, Span

CSS = """
body{font:13px/1.45 "DejaVu Sans",Arial,sans-serif;color:#1b1b1b;margin:24px auto;max-width:1100px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;border-bottom:2px solid #1f4e99;
padding-bottom:2px;margin-top:28px}h3{font-size:14px;margin:0 0 6px}
table{border-collapse:collapse;margin:6px 0 10px}td,th{border:1px solid #c8c8c8;
padding:3px 7px;text-align:left;vertical-align:top}th{background:#eef2f8}
table.meta th{width:190px}td.num{text-align:right;font-variant-numeric:tabular-nums;
white-space:nowrap}table.channels{font-size:12px}
table.channels td,table.channels th{padding:3px 5px}
.ok{color:#1b6e20;font-weight:bold}.bad{color:#b71c1c;font-weight:bold}
.banner{border:2px solid #b71c1c;background:#fdecea;padding:8px 12px;margin:10px 0}
.note{border-left:4px solid #ef8f00;background:#fff6e5;padding:6px 10px;margin:8px 0}
.maint{color:#6a1b9a}.cal{color:#6d4c41;font-weight:bold}
article{border:1px solid #c8c8c8;border-radius:4px;padding:10px 14px;margin:14px 0;
page-break-inside:avoid}.action{border-left:6px solid #c62828}.alert{border-left:6px solid #ef8f00}
.sig{font-family:"DejaVu Sans Mono",monospace;font-size:12px}svg{max-width:100%;height:auto}
footer{margin-top:30px;color:#555;font-size:11px}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _ts(ts_ns: int | None) -> str:
    return "—" if ts_ns is None else short_utc(ts_ns)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "ongoing"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h"] if hours else []
    if minutes or hours:
        parts.append(f"{minutes} min")
    parts.append(f"{secs} s")
    return " ".join(parts)


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    text = f"{value:,.0f}" if abs(value) >= 100_000 else f"{value:.6g}"
    return f"{text} {_e(unit)}".rstrip()


def render_html(report: Report) -> str:
    h = report.header
    title = ("Excursion report" if h.kind == "excursions" else "Period report")
    where = h.location or "all locations"
    out = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)} {_e(h.site_id)} {_ts(h.from_ns)} – {_ts(h.to_ns)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<header><h1>{_e(title)} — {_e(h.site_name)}</h1>",
        '<table class="meta">',
        f"<tr><th>Site</th><td>{_e(h.site_name)} ({_e(h.site_id)})</td></tr>",
        f"<tr><th>Period (UTC)</th><td>{_ts(h.from_ns)} to {_ts(h.to_ns)}</td></tr>",
        f"<tr><th>Location</th><td>{_e(where)}</td></tr>",
        f"<tr><th>Generated (UTC)</th><td>{_ts(h.generated_ns)} by {_e(h.generated_by)}</td></tr>",
        f"<tr><th>Configuration</th><td>{_e(h.config_path)}<br><span class=\"sig\">sha256 "
        f"{_e(h.config_sha256)}</span></td></tr>",
        f"<tr><th>Software</th><td>{_e(h.software)}</td></tr>",
        f"<tr><th>Readings in period</th><td>{report.readings}</td></tr>",
        "<tr><th>Record integrity</th><td>" + "<br>".join(
            f"{_e(name)}: " + ('<span class="ok">verified</span>' if v == "ok"
                               else f'<span class="bad">FAILED — {_e(v)}</span>')
            for name, v in h.integrity.items()) + "</td></tr>",
        "</table>",
    ]
    if not h.integrity_ok:
        out.append('<div class="banner"><b>Record integrity check failed.</b> The records '
                   "this report is based on do not verify; see the integrity line above and "
                   "investigate before relying on this report.</div>")
    if h.config_changes:
        out.append('<div class="note">Configuration loaded during this period: ' + "; ".join(
            f"{_ts(c['ts_ns'])} {_e(c['action'])} sha256 {_e(str(c['sha256'])[:12])} "
            f"(audit entry {c['audit_seq']})" for c in h.config_changes) + "</div>")
    out.extend(f'<div class="note">{_e(note)}</div>' for note in report.notes)
    out.append("</header>")
    out.extend(_summary(report))
    if report.channels:
        out.extend(_channels(report.channels))
    if report.calibration:
        out.extend(_calibration(report))
    out.extend(_excursions(report.excursions))
    if report.channels:
        out.extend(_maintenance(report.channels))
    out.extend(_gaps(report))
    out.extend(_signatures(report.excursions))
    out.append(f"<footer>{_e(h.software)} — generated {_ts(h.generated_ns)} by "
               f"{_e(h.generated_by)}. Times are UTC. This report was produced from the "
               "site's hash-chained records; its generation is recorded in the audit trail."
               "</footer></body></html>")
    return "\n".join(out) + "\n"


def _summary(report: Report) -> list[str]:
    items = report.excursions
    action = sum(1 for i in items if i.excursion.level == "action")
    statuses: dict[str, int] = {}
    for i in items:
        statuses[i.review.status.value] = statuses.get(i.review.status.value, 0) + 1
    review = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(statuses.items()))
    text = (f"{len(items)} excursion(s): {action} beyond an action limit, "
            f"{len(items) - action} beyond an alert limit"
            + (f"; QA review: {review}" if review else "") + ".")
    if not items:
        text = "No excursions were recorded in this period."
    return ["<h2>Summary</h2>", f"<p>{_e(text)}</p>"]


def _channels(channels: list[ChannelSummary]) -> list[str]:
    out = ["<h2>Channels</h2>", '<table class="channels"><tr><th>Location</th><th>Channel</th>'
           "<th>Unit</th>"
           "<th>Readings (good)</th><th>Min</th><th>Max</th><th>Mean</th>"
           "<th>Time in alert</th><th>Time in action</th><th>Time in maintenance</th>"
           "<th>Gaps</th><th>Coverage</th><th>Limits (current configuration)</th></tr>"]
    for c in channels:
        maint = _duration(c.time_maintenance_s) if c.maintenance_readings else "—"
        if c.maintenance_readings:
            maint = f'<span class="maint">{maint}</span>'
        flagged = ""
        if c.calibration.readings:
            flagged = (f'<br><span class="cal">{c.calibration.readings} calibration overdue'
                       "</span>")
        out.append(
            f"<tr><td>{_e(c.location)}</td><td>{_e(c.channel)}</td><td>{_e(c.unit)}</td>"
            f'<td class="num">{c.readings} ({c.good}){flagged}</td>'
            f'<td class="num">{_num(c.min)}</td>'
            f'<td class="num">{_num(c.max)}</td><td class="num">{_num(c.mean)}</td>'
            f'<td class="num">{_duration(c.time_alert_s)}</td>'
            f'<td class="num">{_duration(c.time_action_s)}</td>'
            f'<td class="num">{maint}</td>'
            f'<td class="num">{len(c.gaps)} ({_duration(c.gap_s)})</td>'
            f'<td class="num">{c.coverage:.1%}</td><td>{_limits(c)}</td></tr>')
    out.append("</table><p>Time in alert: beyond an alert limit but within the action limit. "
               "Figures use good-quality readings only; each reading counts until the next "
               "one, at most five expected intervals. Time in maintenance: held by readings "
               "taken while the channel was in maintenance mode (quality maintenance; not in "
               "the other figures).</p>")
    for c in channels:
        if c.calibration.readings:
            out.append(f'<div class="note"><b>{_e(c.channel)}</b>: '
                       f"{_e(_calibration_text(c.calibration, c.good))}</div>")
    return out


def _calibration_text(flags: CalibrationFlags, good: int | None = None) -> str:
    """What QA must know about the calibration-overdue readings of one channel."""
    of = f" of {good}" if good is not None else ""
    notes = "; ".join(f"{note}" + (f" ({n})" if len(flags.notes) > 1 else "")
                      for note, n in flags.notes.items())
    return (f"{flags.readings}{of} good reading(s) from {_ts(flags.first_ns)} to "
            f"{_ts(flags.last_ns)} were taken while the device's calibration was overdue: "
            f"{notes}. Their values are kept and count in the figures and for the alarms.")


def _maintenance(channels: list[ChannelSummary]) -> list[str]:
    rows = [_span_row(c.channel, span) for c in channels for span in c.maintenance]
    if not rows:
        return []
    return ["<h2>Maintenance mode in the record</h2>",
            "<table><tr><th>Channel</th><th>From</th><th>To</th><th>Length</th><th>Mark</th>"
            "</tr>", *rows, "</table>"]


def _span_row(subject: str, span: Span) -> str:
    return (f"<tr><td>{_e(subject)}</td><td>{_ts(span.start_ns)}</td><td>{_ts(span.end_ns)}"
            f"</td><td>{_duration(span.seconds)}</td><td>{_e(span.note)}</td></tr>")


def _calibration(report: Report) -> list[str]:
    out = ["<h2>Calibration (at the end of the period)</h2>", "<table><tr><th>Device</th>"
           "<th>Valid until</th><th>Certificate</th><th>Status</th></tr>"]
    for c in report.calibration:
        status = str(c["status"]).replace("_", " ")
        cls = ' class="bad"' if c["status"] == "overdue" else ""
        out.append(f"<tr><td>{_e(c['device'])}</td><td>{_e(c['due'] or '—')}</td>"
                   f"<td>{_e(c['certificate'] or '—')}</td><td{cls}>{_e(status)}</td></tr>")
    out.append("</table>")
    return out


def _limits(c: ChannelSummary) -> str:
    def text(lim: Limits) -> str:
        parts = [f"{label} {sign} {_num(getattr(lim, name))}" for name, label, sign in (
            ("high_alert", "alert", ">"), ("high_action", "action", ">"),
            ("low_alert", "alert", "<"), ("low_action", "action", "<"))
            if getattr(lim, name) is not None]
        return ", ".join(parts) or "none"

    states = {state: text(lim) for state, lim in sorted(c.limits.items())}
    if not states:
        return "none"
    if len(set(states.values())) == 1:
        return _e(next(iter(states.values())))
    return "<br>".join(f"{_e(state.replace('_', ' '))}: {_e(t)}" for state, t in states.items())


def _excursions(items: list[ExcursionItem]) -> list[str]:
    out = ["<h2>Excursions</h2>"]
    if not items:
        out.append("<p>None.</p>")
    for item in items:
        out.extend(_excursion(item))
    return out


def _excursion(item: ExcursionItem) -> list[str]:
    x, r, u = item.excursion, item.review, item.unit
    limit_text = ", ".join(f"{n.replace('_', ' ')} {_num(x.limit_value(n))}" for n in (
        "high_alert", "high_action", "low_alert", "low_action") if x.limit_value(n) is not None)
    out = [
        f'<article class="{_e(x.level)}" id="excursion-{_e(x.id)}">',
        f"<h3>Excursion {_e(x.id)} — {_e(x.location)} · {_e(x.channel)} · "
        f"{_e(x.level)} ({_e(x.rule.replace('_', ' '))})</h3>",
        "<table class=\"meta\">",
        f"<tr><th>Window (UTC)</th><td>{_ts(x.start_ns)} to {_ts(x.end_ns)} "
        f"({_duration(x.duration_s())}); alarm raised {_ts(x.raised_ns)}</td></tr>",
        f"<tr><th>Peak</th><td>{_num(x.peak, u)} at {_ts(x.peak_ns)}</td></tr>",
        f"<tr><th>Limit exceeded</th><td>{_num(x.limit, u)}"
        + (f" (in force: {_e(limit_text)} {_e(u)})" if limit_text else "") + "</td></tr>",
        f"<tr><th>Location state</th><td>{_e(x.location_state or '—')}</td></tr>",
        f"<tr><th>Priority / alarm state</th><td>{_e(x.priority)} / {_e(x.alarm_state)}</td></tr>",
    ]
    for ack, check in zip(x.acknowledgements, item.ack_checks, strict=False):
        sig = ""
        if ack.signature:
            name = ack.signature.get("printed_name", ack.user)
            sig = (f"; signed by {_e(name)} ({_e(ack.signature.get('meaning'))}) — "
                   + ('<span class="ok">signature verified</span>' if check == "ok"
                      else f'<span class="bad">signature not valid: {_e(check)}</span>'))
        out.append(f"<tr><th>Acknowledged</th><td>{_ts(ack.ts_ns)} by {_e(ack.user)}: "
                   f"{_e(ack.reason)}{sig}</td></tr>")
    for note in x.notes:
        out.append(f"<tr><th>Note</th><td>{_e(note)}</td></tr>")
    for span in item.maintenance:
        out.append('<tr><th>Maintenance (plot window)</th><td class="maint">'
                   f"{_ts(span.start_ns)} to {_ts(span.end_ns)} ({_duration(span.seconds)}): "
                   f"{_e(span.note)}</td></tr>")
    if item.calibration.readings:
        out.append('<tr><th>Calibration (plot window)</th><td class="cal">'
                   f"{_e(_calibration_text(item.calibration))}</td></tr>")
    a = r.assessment
    out.append(f"<tr><th>QA review</th><td><b>{_e(r.status.value.replace('_', ' '))}</b>"
               + (f" since {_ts(r.started_ns)}" if r.started_ns else "") + "</td></tr>")
    for key, label in (("root_cause", "Root cause"), ("root_cause_detail", "Root cause detail"),
                       ("impact", "Impact"), ("impact_assessment", "Impact assessment"),
                       ("deviation", "Deviation"), ("capa", "CAPA")):
        if key in a:
            out.append(f"<tr><th>{label}</th><td>{_e(a[key])}</td></tr>")
    for c in r.comments:
        out.append(f"<tr><th>Comment</th><td>{_ts(c['ts_ns'])} {_e(c['user'])}: "
                   f"{_e(c['text'])}</td></tr>")
    if r.signature is not None:
        s = r.signature
        status = ('<span class="ok">signature verified</span>' if item.closure_problem is None
                  else f'<span class="bad">signature NOT valid: {_e(item.closure_problem)}</span>')
        out.append(f"<tr><th>Closed</th><td class=\"sig\">{_e(s.manifestation())}<br>"
                   f"{status}</td></tr>")
    out.append("</table>")
    if item.plot_svg:
        out.append(f'<figure aria-label="trend of excursion {_e(x.id)}">{item.plot_svg}'
                   "</figure>")
    if item.readings == 0:
        out.append('<div class="note">No readings are stored for this excursion\'s window.</div>')
    out.append("</article>")
    return out


def _gap_rows(gaps: list[GapSpan], subject: str) -> list[str]:
    return [f"<tr><td>{_e(subject)}</td><td>{_ts(g.start_ns)}</td><td>{_ts(g.end_ns)}</td>"
            f"<td>{_duration(g.seconds)}</td><td>{_e(g.cause.replace('_', ' '))}</td>"
            f"<td>{_e(g.detail)}</td></tr>" for g in gaps]


def _gaps(report: Report) -> list[str]:
    rows = _gap_rows(report.daemon_gaps, "monitoring (all channels)")
    for c in report.channels:
        rows.extend(_gap_rows([g for g in c.gaps if g.cause not in ("daemon_stopped",
                                                                    "daemon_crashed")],
                              c.channel))
    out = ["<h2>Gaps in the record</h2>"]
    if not rows:
        out.append("<p>No gaps were recorded in this period.</p>")
        return out
    out.append("<table><tr><th>Subject</th><th>From</th><th>To</th><th>Length</th><th>Cause</th>"
               "<th>Detail</th></tr>")
    out.extend(rows)
    out.append("</table>")
    return out


def _signatures(items: list[ExcursionItem]) -> list[str]:
    rows = []
    for item in items:
        x = item.excursion
        for ack, check in zip(x.acknowledgements, item.ack_checks, strict=False):
            if ack.signature:
                g = ack.signature
                rows.append((g.get("ts_iso") or "", x.id, g.get("printed_name", ack.user),
                             g.get("username", ack.user), g.get("meaning", "acknowledged"),
                             check == "ok"))
        s = item.review.signature
        if s is not None:
            rows.append((s.ts_iso, x.id, s.printed_name, s.username, s.meaning,
                         item.closure_problem is None))
    out = ["<h2>Electronic signatures</h2>"]
    if not rows:
        out.append("<p>No signatures in this report.</p>")
        return out
    out.append("<table><tr><th>Time (UTC)</th><th>Excursion</th><th>Printed name</th>"
               "<th>User</th><th>Meaning</th><th>Verified</th></tr>")
    for ts, exc_id, name, user, meaning, ok in sorted(rows):
        when = f"{str(ts)[:19].replace('T', ' ')}Z" if ts else "—"
        out.append(f"<tr><td>{_e(when)}</td><td>{_e(exc_id)}</td>"
                   f"<td>{_e(name)}</td><td>{_e(user)}</td><td>{_e(meaning)}</td><td>"
                   + ('<span class="ok">yes</span>' if ok else '<span class="bad">NO</span>')
                   + "</td></tr>")
    out.append("</table>")
    return out
