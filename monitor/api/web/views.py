"""HTML fragments of the pages, built from the same data as the JSON API.

Every value is escaped on the way in (``esc``); ids and classes follow the
data (``loc-<name>``, ``alarm-<id>``, ``level-action``) so that people and the
browser tests find things the same way.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any
from urllib.parse import quote

from monitor.api.alarmview import AlarmAccess
from monitor.api.auth import CSRF_FIELD, Principal
from monitor.api.context import ApiContext
from monitor.api.history import HistoryQuery
from monitor.audit import iso_utc
from monitor.config import ChannelInfo
from monitor.errors import StoreError
from monitor.runtime import Runtime
from monitor.users.roles import Permission

from .charts import trend_svg
from .render import Markup, esc, join

NS = 1_000_000_000
BAD = "quality-bad"
DONE = {"acknowledge": "acknowledged", "shelve": "shelved", "unshelve": "returned to service"}


def fmt_value(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    magnitude = abs(value)
    if magnitude >= 10_000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_time(ts_ns: int | None) -> str:
    return "—" if ts_ns is None else iso_utc(ts_ns)[:19].replace("T", " ") + " UTC"


def _limits_text(limits: dict[str, Any] | None) -> str:
    if not limits:
        return "—"
    parts = []
    for name, label in (("low_action", "action ≥"), ("low_alert", "alert ≥"),
                        ("high_alert", "alert ≤"), ("high_action", "action ≤")):
        if name in limits:
            parts.append(f"{label} {fmt_value(limits[name])}")
    return ", ".join(parts)


def _badge(text: str, cls: str) -> Markup:
    return Markup(f'<span class="badge {esc(cls)}">{esc(text)}</span>')


def overview(runtime: Runtime, alarms: AlarmAccess) -> Markup:
    loaded = runtime.loaded
    cfg = loaded.config
    active = alarms.active()
    by_priority = Counter(a.priority for a in active if a.state in ("active_unack", "active_ack"))
    unacked = sum(1 for a in active if a.state in ("active_unack", "rtn_unack"))
    summary = [Markup(f'<span class="count" id="count-{p}">{esc(p)}: {by_priority.get(p, 0)}'
                      "</span>") for p in ("critical", "high", "medium", "low")]
    summary.append(Markup(f'<a class="count" id="count-unacked" href="/alarms">'
                          f"awaiting acknowledgement: {unacked}</a>"))
    parts = [Markup(f"<h1>{esc(cfg.site.name)}</h1>"),
             Markup(f'<div class="summary">{join(summary)}</div>')]
    if not alarms.available:
        parts.append(Markup('<p class="notice error">The alarm engine is not running: '
                            "alarm states are unknown.</p>"))
    for room in cfg.rooms:
        standard = (room.standard or cfg.standard).value
        parts.append(Markup(f'<h2 id="room-{esc(room.name)}">{esc(room.name)} '
                            f"<small>grade {esc(room.grade)} · {esc(standard)} · "
                            f"{esc(room.description)}</small></h2>"))
        cards = [_location_card(runtime, alarms, loc.name) for loc in room.locations]
        parts.append(Markup(f'<div class="rooms">{join(cards)}</div>'))
    return join(parts)


def _location_card(runtime: Runtime, alarms: AlarmAccess, name: str) -> Markup:
    room, loc = runtime.loaded.locations[name]
    level = alarms.location_level(name)
    state = alarms.location_state(name)
    badges = [_badge(f"grade {room.grade}", "state"), _badge(state.replace("_", " "), "state"),
              _badge(level, f"level-{level}")]
    if alarms.maintenance(name):
        badges.append(_badge("maintenance", "mode-suppressed"))
    rows = []
    for info in runtime.loaded.channels.values():
        if info.location != name:
            continue
        rows.append(_channel_row(runtime, alarms, info))
    return Markup(
        f'<article class="location level-{esc(level)}" id="loc-{esc(name)}" '
        f'data-level="{esc(level)}" data-state="{esc(state)}">'
        f"<h3>{esc(name)} {join(badges)}</h3>"
        f'<div class="meta">{esc(loc.description)}</div>'
        "<table><thead><tr><th>Channel</th><th>Value</th><th>Unit</th><th>Limits</th>"
        "<th>Quality</th><th>UTC</th></tr></thead>"
        f"<tbody>{join(rows)}</tbody></table></article>")


def _channel_row(runtime: Runtime, alarms: AlarmAccess, info: ChannelInfo) -> Markup:
    reading = runtime.pipeline.latest.get(info.id)
    level = alarms.channel_level(info.id)
    quality = reading.quality.value if reading else "no data"
    classes = f"level-{level}" + ("" if reading and quality == "good" else f" {BAD}")
    href = f"/trend/{quote(info.device)}/{quote(info.spec.name)}"
    return Markup(
        f'<tr class="{esc(classes)}" id="ch-{esc(info.id.replace("/", "-"))}" '
        f'data-channel="{esc(info.id)}">'
        f'<td><a href="{esc(href)}">{esc(info.spec.name)}</a> '
        f'<span class="quality">{esc(info.spec.quantity)}</span></td>'
        f'<td class="num value">{esc(fmt_value(reading.value if reading else None))}</td>'
        f"<td>{esc(info.spec.unit)}</td>"
        f"<td>{esc(_limits_text(alarms.limits(info.id)))}</td>"
        f'<td class="quality">{esc(quality)}</td>'
        f'<td class="quality" title="{esc(fmt_time(reading.ts_ns if reading else None))}">'
        f"{esc(fmt_time(reading.ts_ns if reading else None)[11:19] or '—')}</td></tr>")


def done_notice(action: str | None, alarm: str | None) -> Markup:
    if action not in DONE or not alarm:
        return Markup("")
    return Markup(f'<p class="notice ok" id="notice">Alarm {esc(alarm[:80])} '
                  f"{esc(DONE[action])}.</p>")


def error_notice(message: str) -> Markup:
    return Markup(f'<p class="notice error" id="notice">{esc(message)}</p>')


def alarms(runtime: Runtime, access: AlarmAccess, principal: Principal | None, notice: Markup,
           shelve_choices: tuple[str, ...]) -> Markup:
    parts = [Markup("<h1>Alarms</h1>"), notice]
    if not access.available:
        parts.append(Markup('<p class="notice error">The alarm engine is not running.</p>'))
        return join(parts)
    active = access.active()
    if not active:
        parts.append(Markup('<p class="empty" id="no-alarms">No active alarms.</p>'))
        return join(parts)
    if principal is None:
        parts.append(Markup('<p class="notice"><a href="/login?next=/alarms">Log in</a> to '
                            "acknowledge or shelve.</p>"))
    rows = [_alarm_row(runtime, a, principal, shelve_choices) for a in active]
    parts.append(Markup(
        '<table class="alarms" id="alarm-table"><thead><tr><th>Priority</th><th>Location</th>'
        "<th>Channel</th><th>Rule</th><th>State</th><th>Limit</th><th>Peak</th><th>Raised</th>"
        f"<th>Action</th></tr></thead><tbody>{join(rows)}</tbody></table>"))
    return join(parts)


def _alarm_row(runtime: Runtime, a: Any, principal: Principal | None,
               shelve_choices: tuple[str, ...]) -> Markup:
    ref = str(a.alarm_id) if a.alarm_id is not None else a.point
    unit = runtime.loaded.channels[a.channel].spec.unit if a.channel in \
        runtime.loaded.channels else ""
    state = a.state.replace("_", " ")
    mode = "" if a.mode == "in_service" else str(a.mode)
    forms = _alarm_forms(ref, a, principal, shelve_choices)
    device, _, channel = a.channel.partition("/")
    return Markup(
        f'<tr id="alarm-{esc(ref.replace("/", "-").replace(":", "-"))}" '
        f'class="state-{esc(a.state)}" data-alarm="{esc(ref)}" data-state="{esc(a.state)}" '
        f'data-mode="{esc(a.mode)}">'
        f"<td>{_badge(a.priority, f'prio-{a.priority}')}</td>"
        f"<td>{esc(a.location)}</td>"
        f'<td><a href="/trend/{esc(quote(device))}/{esc(quote(channel))}">{esc(a.channel)}'
        "</a></td>"
        f"<td>{esc(a.rule.replace('_', ' '))} {_badge(a.level, f'level-{a.level}')}</td>"
        f'<td class="alarm-state">{esc(state)} '
        f"{_badge(mode, f'mode-{mode}') if mode else ''}"
        f"{esc(' until ' + fmt_time(a.shelved_until)) if a.shelved_until else ''}</td>"
        f'<td class="num">{esc(fmt_value(a.limit))} {esc(unit)}</td>'
        f'<td class="num">{esc(fmt_value(a.peak))}</td>'
        f"<td>{esc(fmt_time(a.raised_ns))}</td><td>{forms}</td></tr>")


def _alarm_forms(ref: str, a: Any, principal: Principal | None,
                 shelve_choices: tuple[str, ...]) -> Markup:
    if principal is None or principal.session is None:
        return Markup("")
    csrf = Markup(f'<input type="hidden" name="{CSRF_FIELD}" '
                  f'value="{esc(principal.session.csrf)}">')
    action = f"/alarms/{quote(ref, safe='')}"
    out = []
    user = principal.user
    if a.state in ("active_unack", "rtn_unack") and user.has(Permission.ACKNOWLEDGE):
        out.append(Markup(
            f'<form method="post" class="ack-form" action="{esc(action)}/acknowledge">{csrf}'
            '<input type="text" name="reason" placeholder="Reason" required minlength="3" '
            'maxlength="500" aria-label="Reason">'
            '<input type="password" name="password" placeholder="Password (signature)" '
            'required autocomplete="current-password" aria-label="Password">'
            '<button type="submit" class="ack-button">Acknowledge</button></form>'))
    if user.has(Permission.SHELVE):
        if a.mode == "shelved":
            out.append(Markup(
                f'<form method="post" class="unshelve-form" action="{esc(action)}/unshelve">'
                f'{csrf}<input type="text" name="reason" placeholder="Reason" required '
                'minlength="3" aria-label="Reason"><button type="submit" class="secondary">'
                "Unshelve</button></form>"))
        elif a.alarm_id is not None:
            options = "".join(f'<option value="{c}">{c}</option>' for c in shelve_choices)
            out.append(Markup(
                f'<form method="post" class="shelve-form" action="{esc(action)}/shelve">{csrf}'
                '<input type="text" name="reason" placeholder="Reason" required minlength="3" '
                f'aria-label="Reason"><select name="duration" aria-label="For">{options}'
                '</select><button type="submit" class="secondary">Shelve</button></form>'))
    return join(out)


def _step_for(hours: float, poll_interval: float) -> float:
    """Bucket size giving at most ~720 points, on a round number of seconds."""
    wanted = hours * 3600 / 720
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if step >= wanted and step >= poll_interval:
            return float(step)
    return 3600.0


async def trend(ctx: ApiContext, info: ChannelInfo, hours: float) -> Markup:
    access = AlarmAccess(ctx.runtime)
    end_ns = time.time_ns()
    start_ns = end_ns - int(hours * 3600 * NS)
    step = _step_for(hours, info.poll_interval)
    history = ctx.extras["history"]
    try:
        result = await history.query(HistoryQuery(info.id, start_ns, end_ns, 5000, step))
        chart = trend_svg(result["points"], start_ns=start_ns, end_ns=end_ns,
                          unit=info.spec.unit, limits=access.limits(info.id),
                          title=f"{info.id} last {hours:g} h")
        gaps = result["gaps"]
    except StoreError as err:
        chart = Markup(f'<p class="notice error">History unavailable: {esc(err)}</p>')
        gaps = []
    links = join([Markup(f'<a href="?hours={h}">{h} h</a>') for h in (1, 6, 24, 72)])
    reading = ctx.runtime.pipeline.latest.get(info.id)
    latest = (f"{fmt_value(reading.value)} {info.spec.unit} ({reading.quality.value}, "
              f"{fmt_time(reading.ts_ns)})" if reading else "no reading yet")
    gap_items = join([Markup(f"<li>{esc(g['cause'])}: {esc(g['start'])} – "
                             f"{esc(g['end'] or 'ongoing')}</li>") for g in gaps[:20]])
    return Markup(
        f'<section class="trend" id="trend"><h1>{esc(info.id)} <small>{esc(info.location)} · '
        f"grade {esc(info.grade)} · {esc(info.spec.quantity)}</small></h1>"
        f'<p class="ranges">{links} · bucket {step:g} s (mean of good readings, band = '
        f"min–max)</p>{chart}<p>Latest: <strong id=\"latest\">{esc(latest)}</strong></p>"
        f"<p>Limits in force: {esc(_limits_text(access.limits(info.id)))}</p>"
        + (f"<h2>Gaps</h2><ul>{gap_items}</ul>" if gaps else "") + "</section>")
