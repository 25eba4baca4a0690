"""HTML fragments of the overview and alarm pages, built from the same data as the JSON API.

Every value is escaped on the way in (``esc``) and every number and unit is
formatted by ``fmt`` (352,000 particles/m³, 36.5 °C); ids and classes follow
the data (``loc-<name>``, ``alarm-<id>``, ``level-action``) so that people and
the browser tests find things the same way.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import quote

from monitor.api.alarmview import AlarmAccess
from monitor.api.auth import CSRF_FIELD, Principal
from monitor.config import ChannelInfo
from monitor.runtime import Runtime
from monitor.users.roles import Permission

from . import fmt
from .render import Markup, esc, join

BAD = "quality-bad"
DONE = {"acknowledge": "acknowledged", "shelve": "shelved", "unshelve": "returned to service"}
STANDARDS = {"eu_gmp_annex1": "EU GMP Annex 1", "china_gmp": "China GMP",
             "iso_14644_1": "ISO 14644-1"}
STATES = {"active_unack": ("active", "unacknowledged"), "active_ack": ("active", "acknowledged"),
          "rtn_unack": ("returned to normal", "unacknowledged"), "normal": ("normal", "")}
LEVEL_WORDS = {"no_data": "no data"}
OPPOSITES = {"open": "closed", "closed": "open", "on": "off", "off": "on"}
#: Rules whose limit is a number of seconds, not a value of the channel.
SECONDS_RULES = frozenset({"door_held_open", "stale"})


def _limits_cell(limits: dict[str, Any] | None, unit: str) -> Markup:
    parts = fmt.limit_parts(limits, unit)
    if not parts:
        return Markup(fmt.DASH)
    return Markup(", ".join(f'<span class="limit">{esc(p)}</span>' for p in parts))


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
    summary.append(Markup(f'<a class="count{" attention" if unacked else ""}" '
                          f'id="count-unacked" href="/alarms">'
                          f"awaiting acknowledgement: {unacked}</a>"))
    parts = [Markup(f"<h1>{esc(cfg.site.name)}</h1>"),
             Markup(f'<div class="summary">{join(summary)}</div>')]
    if not alarms.available:
        parts.append(Markup('<p class="notice error">The alarm engine is not running: '
                            "alarm states are unknown.</p>"))
    for room in cfg.rooms:
        standard = (room.standard or cfg.standard).value
        parts.append(Markup(f'<h2 id="room-{esc(room.name)}">{esc(room.name)} '
                            f"<small>grade {esc(room.grade)} · "
                            f"{esc(STANDARDS.get(standard, standard))}"
                            f"{' · ' + esc(room.description) if room.description else ''}"
                            "</small></h2>"))
        cards = [_location_card(runtime, alarms, loc.name) for loc in room.locations]
        parts.append(Markup(f'<div class="rooms">{join(cards)}</div>'))
    return join(parts)


def _location_card(runtime: Runtime, alarms: AlarmAccess, name: str) -> Markup:
    room, loc = runtime.loaded.locations[name]
    level = alarms.location_level(name)
    state = alarms.location_state(name)
    badges = [_badge(f"grade {room.grade}", "state"), _badge(fmt.words(state), "state"),
              _badge(LEVEL_WORDS.get(level, level), f"level-{level}")]
    if alarms.maintenance(name):
        badges.append(_badge("maintenance", "mode-suppressed"))
    rows = []
    for info in runtime.loaded.channels.values():
        if info.location != name:
            continue
        rows.append(_channel_row(runtime, alarms, info))
    meta = Markup(f'<div class="meta">{esc(loc.description)}</div>' if loc.description else "")
    return Markup(
        f'<article class="location level-{esc(level)}" id="loc-{esc(name)}" '
        f'data-level="{esc(level)}" data-state="{esc(state)}">'
        f"<h3>{esc(name)} {join(badges)}</h3>{meta}"
        '<table class="readings"><thead><tr><th>Channel</th><th class="num">Value</th>'
        "<th>Unit</th><th>Limits</th><th>Quality</th><th>UTC</th></tr></thead>"
        f"<tbody>{join(rows)}</tbody></table></article>")


def binary_states(info: ChannelInfo, inverted: bool = False) -> tuple[str, str] | None:
    """Words for 0 and 1 of a status bit or a two-valued channel, else None.

    ``unit`` names the state of 1 for such channels ("open", "active"); a door
    contact configured ``open_when: zero`` is ``inverted``.
    """
    spec = info.spec
    binary = spec.bit is not None or (bool(spec.value_map) and set(
        spec.value_map.values()) <= {0.0, 1.0})
    if not binary:
        return None
    on, off = spec.unit, OPPOSITES.get(spec.unit, f"not {spec.unit}")
    return (on, off) if inverted else (off, on)


def reading_text(info: ChannelInfo, value: float | None,
                 inverted: bool = False) -> tuple[str, str]:
    """Value and unit as shown; a status bit or a two-valued channel reads as words."""
    states = binary_states(info, inverted)
    if states is not None and value in (0, 1):
        return states[int(value or 0)], ""
    return fmt.fmt_value(value, info.spec.unit), fmt.display_unit(info.spec.unit)


def inverted_channels(runtime: Runtime) -> frozenset[str]:
    """Door contacts whose 0 means open."""
    return frozenset(d.channel for d in runtime.loaded.config.alarms.doors
                     if d.open_when == "zero")


def _channel_row(runtime: Runtime, alarms: AlarmAccess, info: ChannelInfo) -> Markup:
    reading = runtime.pipeline.latest.get(info.id)
    level = alarms.channel_level(info.id)
    quality = reading.quality.value if reading else "no data"
    classes = f"level-{level}" + ("" if reading and quality == "good" else f" {BAD}")
    href = f"/trend/{quote(info.device)}/{quote(info.spec.name)}"
    value, unit = reading_text(info, reading.value if reading else None,
                               info.id in inverted_channels(runtime))
    what = fmt.quantity_label(info.spec.quantity)
    what_html = (f'<span class="qty">{esc(what)}</span>'
                 if what.replace(" ", "_") != info.spec.name else "")
    ts = reading.ts_ns if reading else None
    return Markup(
        f'<tr class="{esc(classes)}" id="ch-{esc(info.id.replace("/", "-"))}" '
        f'data-channel="{esc(info.id)}">'
        f'<td class="channel"><a href="{esc(href)}">{esc(info.id)}</a>{what_html}</td>'
        f'<td class="num value">{esc(value)}</td>'
        f'<td class="unit">{esc(unit)}</td>'
        f'<td class="limits">{_limits_cell(alarms.limits(info.id), info.spec.unit)}</td>'
        f'<td class="quality">{esc(fmt.words(quality))}</td>'
        f'<td class="quality time" title="{esc(fmt.fmt_time(ts))}">'
        f"{esc(fmt.fmt_clock(ts))}</td></tr>")


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
        parts.append(Markup('<p class="notice info"><a href="/login?next=/alarms">Log in</a> '
                            "to acknowledge or shelve.</p>"))
    rows = [_alarm_row(runtime, a, principal, shelve_choices) for a in active]
    parts.append(Markup(
        '<table class="alarms" id="alarm-table"><thead><tr><th>Priority</th>'
        "<th>Channel</th><th>Rule</th><th>State</th><th class=\"num\">Limit</th>"
        '<th class="num">Peak</th><th>Raised (UTC)</th>'
        f"{'<th>Action</th>' if principal else ''}</tr></thead><tbody>{join(rows)}</tbody>"
        "</table>"))
    return join(parts)


def alarm_units(rule: str, info: ChannelInfo | None) -> tuple[str, str]:
    """The configured unit of an alarm's limit and of its peak."""
    if rule in SECONDS_RULES:
        return "s", ""
    return (info.spec.unit, info.spec.unit) if info is not None else ("", "")


def _with_unit(text: str, unit: str) -> str:
    shown = fmt.display_unit(unit)
    return f"{text} {shown}" if shown and text != fmt.DASH else text


def _alarm_row(runtime: Runtime, a: Any, principal: Principal | None,
               shelve_choices: tuple[str, ...]) -> Markup:
    ref = str(a.alarm_id) if a.alarm_id is not None else a.point
    limit_unit, peak_unit = alarm_units(a.rule, runtime.loaded.channels.get(a.channel))
    state, ack = STATES.get(a.state, (fmt.words(a.state), ""))
    mode = "" if a.mode == "in_service" else str(a.mode)
    forms = _alarm_forms(ref, a, principal, shelve_choices)
    actions = f'<td data-label="Action" class="actions">{forms}</td>' if principal else ""
    device, _, channel = a.channel.partition("/")
    name = Markup(f'<a href="/trend/{esc(quote(device))}/{esc(quote(channel))}">'
                  f"{esc(a.channel)}</a>" if a.channel in runtime.loaded.channels
                  else f"{esc(a.channel)}")
    where = f"device · {a.location}" if a.channel not in runtime.loaded.channels else a.location
    shelved = (f'<span class="until">until {esc(fmt.fmt_time(a.shelved_until))}</span>'
               if a.shelved_until else "")
    ack_html = f'<span class="ack">{esc(ack)}</span>' if ack else ""
    raised = (f'{esc(fmt.fmt_clock(a.raised_ns))}<span class="date">'
              f"{esc(fmt.fmt_time(a.raised_ns)[:10])}</span>" if a.raised_ns else fmt.DASH)
    return Markup(
        f'<tr id="alarm-{esc(ref.replace("/", "-").replace(":", "-"))}" '
        f'class="state-{esc(a.state)}" data-alarm="{esc(ref)}" data-state="{esc(a.state)}" '
        f'data-mode="{esc(a.mode)}">'
        f'<td data-label="Priority">{_badge(a.priority, f"prio-{a.priority}")}</td>'
        f'<td data-label="Channel" class="channel">{name}'
        f'<span class="qty">{esc(where)}</span></td>'
        f'<td data-label="Rule">{esc(fmt.words(a.rule))} '
        f"{_badge(a.level, f'level-{a.level}')}</td>"
        f'<td data-label="State" class="alarm-state">{esc(state)}'
        f"{ack_html}"
        f"{_badge(fmt.words(mode), f'mode-{mode}') if mode else ''}{shelved}</td>"
        f'<td data-label="Limit" class="num">'
        f"{esc(_with_unit(fmt.fmt_limit(a.limit, limit_unit), limit_unit))}</td>"
        f'<td data-label="Peak" class="num">'
        f"{esc(_with_unit(fmt.fmt_value(a.peak, peak_unit), peak_unit))}</td>"
        f'<td data-label="Raised (UTC)" class="time">{raised}</td>'
        f"{actions}</tr>")


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
            '<input type="text" name="reason" placeholder="Reason" required '
            'minlength="3" maxlength="500" aria-label="Reason for acknowledging">'
            '<input type="password" name="password" placeholder="Password (signature)" '
            'required autocomplete="current-password" aria-label="Password (signature)">'
            '<button type="submit" class="ack-button">Acknowledge</button></form>'))
    if user.has(Permission.SHELVE):
        if a.mode == "shelved":
            out.append(Markup(
                f'<form method="post" class="unshelve-form" action="{esc(action)}/unshelve">'
                f'{csrf}<input type="text" name="reason" placeholder="Reason for unshelving" '
                'required minlength="3" aria-label="Reason for unshelving">'
                '<button type="submit" class="secondary">Unshelve</button></form>'))
        elif a.alarm_id is not None:
            options = "".join(f'<option value="{c}">{c}</option>' for c in shelve_choices)
            out.append(Markup(
                '<details class="shelve"><summary>Shelve…</summary>'
                f'<form method="post" class="shelve-form" action="{esc(action)}/shelve">{csrf}'
                '<input type="text" name="reason" placeholder="Reason for shelving" required '
                'minlength="3" aria-label="Reason for shelving"><select name="duration" '
                f'aria-label="Shelve for">{options}</select>'
                '<button type="submit" class="secondary">Shelve</button></form></details>'))
    return join(out)
