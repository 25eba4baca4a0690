"""HTML of QA's excursion pages: the work list and one excursion with its review and signature.

Built from the JSON the API answers (``routes.qa``), so the page shows what
``GET /api/v1/qa/excursions/{id}`` shows; the signature reads as 21 CFR 11.50
asks (printed name, UTC date and time, meaning) wherever it appears. Ids and
classes follow the data (``exc-17``, ``status-under_review``) for people and
the browser tests alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from monitor.api.auth import CSRF_FIELD, Principal
from monitor.config import ChannelInfo
from monitor.qa.workflow import Impact, RootCause
from monitor.runtime import Runtime
from monitor.signatures import Meaning
from monitor.users.roles import Permission

from . import fmt
from .render import Markup, esc, join
from .views import alarm_units

STATUS_WORDS = {"open": "open", "under_review": "under review", "closed": "closed"}
STATUS_CHOICES = (("awaiting", "awaiting review"), ("open", "open"),
                  ("under_review", "under review"), ("closed", "closed"), ("all", "all"))
DONE = {"review": "Review recorded.", "comment": "Comment added.",
        "close": "Review closed and signed."}
SIGN_MEANINGS = (Meaning.REVIEWED, Meaning.APPROVED)  # what the API's close accepts
ASSESSMENT = (("root_cause", "Root cause"), ("root_cause_detail", "Root cause detail"),
              ("impact", "Impact"), ("impact_assessment", "Impact assessment"),
              ("deviation", "Deviation"), ("capa", "CAPA"))


def badge(text: str, cls: str) -> Markup:
    return Markup(f'<span class="badge {esc(cls)}">{esc(text)}</span>')


def status_badge(status: str) -> Markup:
    return badge(STATUS_WORDS.get(status, fmt.words(status)), f"qa-{status}")


def notice(kind: str, text: str) -> Markup:
    return Markup(f'<p class="notice {esc(kind)}" id="notice">{esc(text)}</p>')


def csrf_input(principal: Principal | None) -> Markup:
    csrf = principal.session.csrf if principal and principal.session else ""
    return Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{esc(csrf)}">')


def _units(runtime: Runtime, rec: Mapping[str, Any]) -> tuple[str, str]:
    info: ChannelInfo | None = runtime.loaded.channels.get(str(rec["channel"]))
    return alarm_units(str(rec["rule"]), info)


def with_unit(text: str, unit: str) -> str:
    shown = fmt.display_unit(unit)
    return f"{text} {shown}" if shown and text != fmt.DASH else text


def alarm_words(rec: Mapping[str, Any]) -> str:
    if rec.get("ongoing"):
        return "beyond the limit now"
    if rec.get("finished"):
        return "ended, acknowledged"
    return "ended, awaiting acknowledgement"


def _options(choices: Sequence[tuple[str, str]], selected: str) -> Markup:
    return join([Markup(f'<option value="{esc(v)}"{" selected" if v == selected else ""}>'
                        f"{esc(label)}</option>") for v, label in choices])


# --- the work list ------------------------------------------------------------------------


def work_list(runtime: Runtime, data: Mapping[str, Any], filters: Mapping[str, str],
              note: Markup) -> Markup:
    locations = [("", "all locations")] + [(n, n) for n in runtime.loaded.locations]
    form = Markup(
        '<form method="get" action="/qa/excursions" class="filters" id="qa-filters">'
        f'<label>Status <select name="status">'
        f'{_options(STATUS_CHOICES, filters.get("status", "awaiting"))}</select></label>'
        f'<label>Location <select name="location">'
        f'{_options(locations, filters.get("location", ""))}</select></label>'
        '<label>From (UTC) <input type="datetime-local" name="start" '
        f'value="{esc(filters.get("start", ""))}"></label>'
        '<label>To (UTC) <input type="datetime-local" name="end" '
        f'value="{esc(filters.get("end", ""))}" placeholder="now"></label>'
        '<button type="submit" id="apply-filters">Show</button></form>')
    start, end = fmt.ns_of_iso(data.get("start")), fmt.ns_of_iso(data.get("end"))
    span = fmt.fmt_span(start, end) if start is not None else ""
    rows = [_list_row(runtime, item) for item in data.get("excursions", [])]
    parts = [Markup("<h1>Excursion review</h1>"), note, form,
             Markup(f'<p class="hint" id="range">Excursions overlapping {esc(span)}; '
                    "from defaults to 30 days before to, to defaults to now.</p>")]
    if not rows:
        parts.append(Markup('<p class="empty" id="no-excursions">No excursions match.</p>'))
        return join(parts)
    parts.append(Markup(
        '<table class="qa-list" id="excursion-table"><thead><tr><th>ID</th><th>Location</th>'
        '<th>Channel</th><th>Limit exceeded</th><th>Start (UTC)</th><th class="num">'
        'Duration</th><th class="num">Peak</th><th>Alarm</th><th>QA status</th></tr>'
        f"</thead><tbody>{join(rows)}</tbody></table>"))
    return join(parts)


def _list_row(runtime: Runtime, item: Mapping[str, Any]) -> Markup:
    rec, review = item["excursion"], item["review"]
    _limit_unit, peak_unit = _units(runtime, rec)
    ref = str(rec["id"])
    duration = (fmt.fmt_duration((rec["end_ns"] - rec["start_ns"]) / fmt.NS)
                if rec.get("end_ns") is not None else "ongoing")
    sig = review.get("signature")
    signed = (Markup(f'<span class="signed-by">{esc(sig["printed_name"])}, '
                     f'{esc(sig["meaning"])}</span>') if sig else Markup(""))
    return Markup(
        f'<tr id="exc-{esc(ref)}" data-status="{esc(review["status"])}">'
        f'<td data-label="ID"><a href="/qa/excursions/{esc(quote(ref))}">{esc(ref)}</a></td>'
        f'<td data-label="Location">{esc(rec["location"])}</td>'
        f'<td data-label="Channel">{esc(rec["channel"])}</td>'
        f'<td data-label="Limit exceeded">{esc(fmt.words(rec["rule"]))} '
        f'{badge(str(rec["level"]), "level-" + str(rec["level"]))}</td>'
        f'<td data-label="Start (UTC)" class="time">{esc(fmt.fmt_time(rec["start_ns"]))}</td>'
        f'<td data-label="Duration" class="num">{esc(duration)}</td>'
        f'<td data-label="Peak" class="num">'
        f'{esc(with_unit(fmt.fmt_value(rec.get("peak"), peak_unit), peak_unit))}</td>'
        f'<td data-label="Alarm">{esc(alarm_words(rec))}</td>'
        f'<td data-label="QA status">{status_badge(str(review["status"]))}{signed}</td>'
        f"</tr>")


# --- one excursion --------------------------------------------------------------------------


def record_section(runtime: Runtime, rec: Mapping[str, Any]) -> Markup:
    limit_unit, peak_unit = _units(runtime, rec)
    info = runtime.loaded.channels.get(str(rec["channel"]))
    device, _, name = str(rec["channel"]).partition("/")
    channel: Markup = esc(rec["channel"])
    if info is not None:
        channel = Markup(f'<a href="/trend/{esc(quote(device))}/{esc(quote(name))}">'
                         f"{esc(rec['channel'])}</a>")
    peak = with_unit(fmt.fmt_value(rec.get("peak"), peak_unit), peak_unit)
    if rec.get("peak_ns"):
        peak += f" at {fmt.fmt_time(rec['peak_ns'])}"
    end = rec.get("end_ns")
    duration = (fmt.fmt_duration((end - rec["start_ns"]) / fmt.NS) if end is not None
                else "still beyond the limit")
    rows: list[tuple[str, Any]] = [
        ("Location", f"{rec['location']} "
                     f"({fmt.words(rec.get('location_state')) or 'state unknown'})"),
        ("Channel", channel),
        ("Limit exceeded", f"{fmt.words(rec['rule'])} ({rec['level']}"
                           + (f", priority {rec['priority']})" if rec.get("priority") else ")")),
        ("Limit", with_unit(fmt.fmt_limit(rec.get("limit"), limit_unit), limit_unit)),
        ("Limits in force", fmt.limits_text(rec.get("limits"), limit_unit)),
        ("Beyond the limit from", fmt.fmt_time(rec["start_ns"])),
        ("Alarm raised", fmt.fmt_time(rec.get("raised_ns"))),
        ("Back within the limit", fmt.fmt_time(end) if end is not None else "not yet"),
        ("Duration", duration),
        ("Peak", peak),
        ("Alarm", alarm_words(rec)),
        ("Alarm closed (ended and acknowledged)", fmt.fmt_time(rec.get("closed_ns"))),
    ]
    if rec.get("notes"):
        rows.append(("Notes", "; ".join(str(n) for n in rec["notes"])))
    return Markup('<section id="record"><h2>Excursion record</h2>'
                  f"{_facts_markup(rows)}</section>")


def _facts_markup(rows: Sequence[tuple[str, Any]]) -> Markup:
    return Markup('<dl class="facts">' + join(
        [Markup(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>") for k, v in rows]) + "</dl>")


def readings_section(summary: Mapping[str, Any] | None, unit: str) -> Markup:
    head = Markup('<section id="readings"><h2>Readings during the excursion</h2>')
    if summary is None:
        return Markup(f'{head}<p class="empty">The reading history is not available.</p>'
                      "</section>")
    if not summary["count"]:
        return Markup(f'{head}<p class="empty" id="no-readings">No readings stored for this '
                      "period.</p></section>")

    def value(v: float | None) -> str:
        return with_unit(fmt.fmt_value(v, unit), unit)

    qualities = ", ".join(f"{fmt.words(q)} {n:,}" for q, n in summary["qualities"].items())
    rows: list[tuple[str, Any]] = [
        ("Readings", f"{summary['count']:,}" + (" (first 20,000 only)"
                                                 if summary["truncated"] else "")),
        ("Good readings", f"{summary['good']:,}"),
        ("By quality", qualities),
        ("Minimum (good)", value(summary["min"])),
        ("Maximum (good)", value(summary["max"])),
        ("Mean (good)", value(summary["mean"])),
        ("First / last reading", f"{fmt.fmt_time(summary['first_ns'])} / "
                                 f"{fmt.fmt_time(summary['last_ns'])}"),
    ]
    if summary["gaps"]:
        rows.append(("Gaps", "; ".join(summary["gaps"])))
    return Markup(f"{head}{_facts_markup(rows)}"
                  f'<p class="hint">{esc(summary["link_text"])} '
                  f'<a href="{esc(summary["trend"])}" id="trend-link">Trend chart</a></p>'
                  "</section>")


def events_section(events: Sequence[Mapping[str, Any]], limit_unit: str) -> Markup:
    head = Markup('<section id="events"><h2>Alarm events</h2>')
    if not events:
        return Markup(f'{head}<p class="empty">No alarm events.</p></section>')
    rows = []
    for e in events:
        change = fmt.words(e.get("state"))
        if e.get("prev_state") and e.get("prev_state") != e.get("state"):
            change = f"{fmt.words(e['prev_state'])} → {change}"
        value = with_unit(fmt.fmt_value(e.get("value"), limit_unit), limit_unit)
        rows.append(Markup(
            f'<tr data-kind="{esc(e["kind"])}"><td class="num">{esc(e["seq"])}</td>'
            f'<td class="time">{esc(fmt.fmt_time(e["ts_ns"]))}</td>'
            f'<td>{esc(fmt.words(e["kind"]))}</td><td>{esc(change)}</td>'
            f'<td class="num">{esc(value)}</td><td>{esc(e.get("user") or "")}</td>'
            f'<td>{esc(e.get("reason") or "")}</td>'
            "</tr>"))
    return Markup(
        f'{head}<table class="qa-events"><thead><tr><th class="num">Seq</th><th>UTC</th>'
        "<th>Event</th><th>State</th><th class=\"num\">Value</th><th>User</th><th>Reason</th>"
        f"</tr></thead><tbody>{join(rows)}</tbody></table></section>")


def acks_section(acks: Sequence[Mapping[str, Any]], signed: Sequence[str | None]) -> Markup:
    head = Markup('<section id="acks"><h2>Acknowledgements</h2>')
    if not acks:
        return Markup(f'{head}<p class="empty">Not acknowledged.</p></section>')
    rows = [Markup(f'<li><strong>{esc(fmt.fmt_time(a["ts_ns"]))}</strong> '
                   f'{esc(a["user"])}: {esc(a.get("reason") or "")}'
                   + (f'<span class="manifestation">{esc(m)}</span>' if m else "") + "</li>")
            for a, m in zip(acks, signed, strict=True)]
    return Markup(f'{head}<ul class="qa-entries">{join(rows)}</ul></section>')


def review_section(review: Mapping[str, Any], names: Mapping[str, str]) -> Markup:
    a = review.get("assessment", {})
    rows: list[tuple[str, Any]] = [("Status", status_badge(str(review["status"])))]
    if review.get("started"):
        rows.append(("Review started", fmt.fmt_time(fmt.ns_of_iso(review["started"]))))
    if review.get("reviewers"):
        rows.append(("Contributors", ", ".join(
            f"{names.get(u, u)} ({u})" for u in review["reviewers"])))
    for key, label in ASSESSMENT:
        value = a.get(key)
        rows.append((label, fmt.words(value) if key in ("root_cause", "impact") and value
                     else value or fmt.DASH))
    comments = [Markup(f'<li><strong>{esc(fmt.fmt_time(c["ts_ns"]))}</strong> '
                       f'{esc(names.get(c["user"], c["user"]))} ({esc(c["user"])}): '
                       f'<span class="text">{esc(c["text"])}</span></li>')
                for c in review.get("comments", [])]
    listed = (Markup(f'<ul class="qa-entries" id="comments">{join(comments)}</ul>') if comments
              else Markup('<p class="empty" id="comments">No comments yet.</p>'))
    return Markup('<section id="review"><h2>QA review</h2>'
                  f"{_facts_markup(rows)}<h3>Comments</h3>{listed}</section>")


def hash_section(current: str, signed_hash: str | None) -> Markup:
    rows: list[tuple[str, Any]] = [("SHA-256 now", Markup(f'<code id="record-hash">'
                                                           f"{esc(current)}</code>"))]
    if signed_hash is not None:
        same = "matches" if signed_hash == current else "DIFFERS from the record now"
        rows.append(("Signed", Markup(f'<code id="signed-hash">{esc(signed_hash)}</code> '
                                      f"({esc(same)})")))
    return Markup(
        '<section id="hash"><h2>Record hash</h2><p class="hint">What a closing signature is '
        "bound to: the excursion record above and every review event so far (SHA-256 of "
        "their canonical JSON). A change to either after signing breaks the signature.</p>"
        f"{_facts_markup(rows)}</section>")


def signature_section(review: Mapping[str, Any]) -> Markup:
    sig = review.get("signature")
    if not sig:
        return Markup("")
    valid = review.get("signature_valid")
    check = (Markup('<span class="badge level-normal" id="signature-check">verified</span>')
             if valid else Markup('<span class="badge level-action" id="signature-check">'
                                  f"NOT VALID: {esc(review.get('signature_problem'))}</span>"))
    rows: list[tuple[str, Any]] = [
        ("Signed by (printed name)", sig["printed_name"]),
        ("User name", sig["username"]),
        ("Date and time (UTC)", fmt.fmt_time(sig["ts_ns"])),
        ("Meaning", sig["meaning"]),
        ("Comment", sig.get("comment") or fmt.DASH),
        ("Record", f"{sig['record_type']} {sig['record_id']}"),
        ("Record hash signed", Markup(f"<code>{esc(sig['record_hash'])}</code>")),
        ("Signature id / audit entry", f"{sig['id']} / {sig.get('audit_seq')}"),
        ("Verification", check),
    ]
    return Markup(
        '<section id="signature" class="signature"><h2>Electronic signature</h2>'
        f'<p class="manifestation" id="manifestation">{esc(sig["manifestation"])}</p>'
        f"{_facts_markup(rows)}</section>")


# --- forms -----------------------------------------------------------------------------------


def comment_form(ref: str, principal: Principal, kept: Mapping[str, str]) -> Markup:
    return Markup(
        f'<form method="post" action="/qa/excursions/{esc(quote(ref))}/comment" '
        f'class="qa-form" id="comment-form">{csrf_input(principal)}'
        '<h3>Add a comment</h3><label>Comment <textarea name="comment" rows="3" required '
        f'maxlength="4000">{esc(kept.get("comment", ""))}</textarea></label>'
        '<button type="submit" id="comment-submit">Add comment</button></form>')


def review_form(ref: str, principal: Principal, status: str,
                kept: Mapping[str, str]) -> Markup:
    causes = [("", "— unchanged —")] + [(c.value, fmt.words(c.value)) for c in RootCause]
    impacts = [("", "— unchanged —")] + [(i.value, i.value) for i in Impact]
    title = "Start the review" if status == "open" else "Add to the review"

    def text(name: str, label: str, limit: int = 200) -> Markup:
        return Markup(f'<label>{esc(label)} <input type="text" name="{name}" '
                      f'maxlength="{limit}" value="{esc(kept.get(name, ""))}"></label>')

    def area(name: str, label: str) -> Markup:
        return Markup(f'<label>{esc(label)} <textarea name="{name}" rows="2" maxlength="4000">'
                      f"{esc(kept.get(name, ''))}</textarea></label>")

    return Markup(
        f'<form method="post" action="/qa/excursions/{esc(quote(ref))}/review" '
        f'class="qa-form" id="review-form">{csrf_input(principal)}<h3>{esc(title)}</h3>'
        '<p class="hint">Only the fields you fill in are recorded; earlier entries stay in '
        "the record.</p>"
        f'<label>Root cause <select name="root_cause">'
        f'{_options(causes, kept.get("root_cause", ""))}</select></label>'
        f'{area("root_cause_detail", "Root cause detail")}'
        f'<label>Impact <select name="impact">{_options(impacts, kept.get("impact", ""))}'
        f"</select></label>{area('impact_assessment', 'Impact assessment')}"
        f'{text("deviation", "Deviation")}{text("capa", "CAPA")}'
        f'{area("comment", "Comment")}'
        f'<button type="submit" id="review-submit">{esc(title)}</button></form>')


def close_form(ref: str, principal: Principal, current_hash: str,
               kept: Mapping[str, str]) -> Markup:
    meanings = [(m.value, m.value) for m in SIGN_MEANINGS]
    user = principal.user
    return Markup(
        f'<form method="post" action="/qa/excursions/{esc(quote(ref))}/close" '
        f'class="qa-form sign-form" id="close-form">{csrf_input(principal)}'
        f'<input type="hidden" name="record_hash" value="{esc(current_hash)}">'
        "<h3>Close the review: electronic signature</h3>"
        f'<p class="statement">I, <strong>{esc(user.full_name)}</strong> '
        f"({esc(user.username)}), sign this excursion record electronically. My signature "
        "is bound to the record hash shown above, and is recorded with my printed name, "
        "the date and time (UTC) and the meaning I choose. It is the legally binding "
        "equivalent of my handwritten signature.</p>"
        f'<label>Meaning <select name="meaning">'
        f'{_options(meanings, kept.get("meaning", "reviewed"))}</select></label>'
        '<label>Comment <textarea name="comment" rows="2" maxlength="4000">'
        f'{esc(kept.get("comment", ""))}</textarea></label>'
        '<label>Password (signature) <input type="password" name="password" required '
        'autocomplete="current-password"></label>'
        '<button type="submit" id="close-submit">Sign and close</button></form>')


def forms_section(ref: str, principal: Principal | None, status: str, current_hash: str, *,
                  action: str, kept: Mapping[str, str]) -> Markup:
    """The forms this user may use (the API still decides: these are only offered)."""
    if principal is None or principal.session is None:
        return Markup(f'<p class="notice info"><a href="/login?next='
                      f'{esc(quote("/qa/excursions/" + ref, safe=""))}">Log in</a> to comment '
                      "or review.</p>")
    if status == "closed":
        return Markup('<p class="notice info" id="closed-note">The review is closed and '
                      "signed; closed is final (new findings go into a deviation).</p>")
    user, out = principal.user, []
    if user.has(Permission.REVIEW_EXCURSION):
        out.append(review_form(ref, principal, status, kept if action == "review" else {}))
    if user.has(Permission.CLOSE_EXCURSION) and status == "under_review":
        out.append(close_form(ref, principal, current_hash, kept if action == "close" else {}))
    out.append(comment_form(ref, principal, kept if action == "comment" else {}))
    return Markup(f'<section id="actions" class="qa-actions">{join(out)}</section>')

