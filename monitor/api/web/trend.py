"""The trend page of one channel: chart, legend, latest value, limits, and the marked periods.

The chart is drawn on the server (``charts``); the stretches it marks come
from the records (``marks``). A legend under the chart says what every line
and shading means, and the same periods are listed in words below it, so a
printout or a screen reader loses nothing. The page's script only adds
tooltips, from the data embedded as JSON (numbers already formatted here).
"""

from __future__ import annotations

import time
from urllib.parse import quote

from monitor.api.alarmview import AlarmAccess
from monitor.api.context import ApiContext
from monitor.api.history import HistoryQuery
from monitor.config import ChannelInfo
from monitor.errors import StoreError

from . import fmt
from .charts import trend_chart
from .marks import Marks, collect
from .render import Markup, esc, join, json_script
from .spans import EXCURSION_ACTION, EXCURSION_ALERT, GAP, MAINTENANCE, NODATA
from .views import binary_states, inverted_channels, reading_text

NS = fmt.NS
RANGES_H = (1, 6, 24, 72)
MAX_POINTS = 5000
MAX_LISTED = 50
_ACTIVE = ' class="active" aria-current="page"'
KIND_WORDS = {GAP: "gap", MAINTENANCE: "maintenance", EXCURSION_ALERT: "alert excursion",
              EXCURSION_ACTION: "action excursion", NODATA: "no data"}


def step_for(hours: float, poll_interval: float) -> float:
    """Bucket size giving at most ~720 points, on a round number of seconds."""
    wanted = hours * 3600 / 720
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if step >= wanted and step >= poll_interval:
            return float(step)
    return 3600.0


def _swatch(inner: str) -> str:
    return (f'<svg class="swatch" viewBox="0 0 28 14" width="28" height="14" aria-hidden="true">'
            f"{inner}</svg>")


def legend(step: float) -> Markup:
    """What the chart's lines and shadings mean: shown under every chart, the same each time."""
    items = [
        ("series", _swatch('<line class="series" x1="1" y1="7" x2="27" y2="7"/>'),
         "mean of good readings"),
        ("band", _swatch('<rect class="band" x="1" y="2" width="26" height="10"/>'),
         f"min – max of good readings per {step:g} s"),
        ("limit-action", _swatch('<line class="limit-action" x1="1" y1="7" x2="27" y2="7"/>'),
         "action limit"),
        ("limit-alert", _swatch('<line class="limit-alert" x1="1" y1="7" x2="27" y2="7"/>'),
         "alert limit"),
        (GAP, _swatch('<rect class="gap" x="1" y="1" width="26" height="12"/>'),
         "gap: daemon stopped, device offline, or no reading of good quality"),
        (MAINTENANCE, _swatch('<rect class="maintenance" x="1" y="1" width="26" height="12"/>'),
         "maintenance mode: alarms suppressed, readings marked maintenance"),
        ("excursion", _swatch('<rect class="excursion-alert" x="1" y="1" width="13" '
                              'height="12"/><rect class="excursion-action" x="14" y="1" '
                              'width="13" height="12"/>'),
         "excursion beyond an alert / action limit"),
        (NODATA, _swatch('<rect class="nodata swatch-frame" x="1" y="1" width="26" '
                         'height="12"/>'), "no data: nothing recorded (before the record starts)"),
    ]
    return Markup('<ul class="legend" id="trend-legend">' + "".join(
        f'<li id="legend-{key}">{swatch}<span>{esc(text)}</span></li>'
        for key, swatch, text in items) + "</ul>")


def _periods(marks: Marks) -> Markup:
    listed = sorted((s for s in marks.spans if s.kind != NODATA), key=lambda s: s.start_ns)
    if not listed and not marks.notes:
        return Markup("")
    items = [f'<li class="mark-{esc(s.kind)}">{_swatch_for(s.kind)}'
             f"<strong>{esc(KIND_WORDS.get(s.kind, s.kind))}</strong>"
             f"<span>{esc(s.label)}</span></li>"
             for s in listed[-MAX_LISTED:]]
    more = (f"<li><span></span><span></span><span>… and {len(listed) - MAX_LISTED} earlier"
            "</span></li>"
            if len(listed) > MAX_LISTED else "")
    notes = "".join(f'<p class="notice error">{esc(n)}</p>' for n in marks.notes)
    return Markup(f"<h2>Gaps, maintenance and excursions</h2>{notes}"
                  f'<ul class="periods" id="periods">{more}{"".join(items)}</ul>')


def _swatch_for(kind: str) -> str:
    return _swatch(f'<rect class="{kind}" x="1" y="1" width="26" height="12"/>')


async def trend(ctx: ApiContext, info: ChannelInfo, hours: float) -> Markup:
    access = AlarmAccess(ctx.runtime)
    end_ns = time.time_ns()
    start_ns = end_ns - int(hours * 3600 * NS)
    step = step_for(hours, info.poll_interval)
    unit = info.spec.unit
    limits = access.limits(info.id)
    title = f"{info.id} last {hours:g} h"
    inverted = info.id in inverted_channels(ctx.runtime)
    try:
        result = await ctx.extras["history"].query(
            HistoryQuery(info.id, start_ns, end_ns, MAX_POINTS, step))
    except StoreError as err:
        chart_html = Markup(f'<p class="notice error">History unavailable: {esc(err)}</p>')
        periods = Markup("")
    else:
        marks = collect(access, info, result["gaps"], start_ns, end_ns)
        chart = trend_chart(result["points"], start_ns=start_ns, end_ns=end_ns, unit=unit,
                            limits=limits, title=title, spans=marks.spans,
                            step_ns=int(step * NS), states=binary_states(info, inverted))
        chart_html = Markup(
            f'<div class="chart-wrap" id="chart-wrap">{chart.svg}'
            '<div class="chart-tip" id="chart-tip" role="tooltip" hidden></div></div>'
            f"{legend(step)}{json_script('trend-data', chart.hover)}")
        periods = _periods(marks)
    links = join([Markup(f'<a href="?hours={h}"{_ACTIVE if h == hours else ""}>{h} h</a>')
                  for h in RANGES_H])
    reading = ctx.runtime.pipeline.latest.get(info.id)
    if reading:
        value, shown_unit = reading_text(info, reading.value, inverted)
        latest = (f"{value} {shown_unit}".rstrip() + f" ({fmt.words(reading.quality.value)}, "
                  f"{fmt.fmt_time(reading.ts_ns)})")
    else:
        latest = "no reading yet"
    overview = f"/#loc-{quote(info.location)}"
    return Markup(
        f'<section class="trend" id="trend"><h1>{esc(info.id)} <small>'
        f'<a href="{esc(overview)}">{esc(info.location)}</a> · grade {esc(info.grade)} · '
        f"{esc(fmt.quantity_label(info.spec.quantity))}</small></h1>"
        f'<nav class="ranges" aria-label="Time range">Last {links}'
        f'<span class="hint">buckets of {step:g} s, UTC</span></nav>'
        f"{chart_html}"
        f'<dl class="facts"><dt>Latest</dt><dd id="latest">{esc(latest)}</dd>'
        f"<dt>Limits in force</dt><dd>{esc(fmt.limits_text(limits, unit))}"
        f"{' ' + esc(fmt.display_unit(unit)) if limits else ''}</dd></dl>"
        f"{periods}</section>")
