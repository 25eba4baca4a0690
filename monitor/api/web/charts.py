"""Trend charts as inline SVG, drawn on the server: no charting library, no script needed.

A chart shows the mean of good readings per bucket as a line, the min/max of
each bucket as a band, the alert and action limits in force as dashed lines,
and marks stretches of time so that a missing line is never mistaken for a
flat one: recorded gaps (daemon stopped, device offline) and buckets without
a good reading are shaded as gaps, maintenance is hatched, excursions are
tinted in their level's colour, and time before the record starts is left
empty and labelled "no data" (it is not a gap: nothing was being recorded).

Every number is formatted by ``fmt`` (grouped thousands, no scientific
notation). The page's script reads ``TrendChart.hover`` for tooltips; the
SVG ``<title>`` elements say the same for browsers without script.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import fmt
from .render import Markup, esc
from .spans import (
    EXCURSION_ACTION,
    EXCURSION_ALERT,
    GAP,
    MAINTENANCE,
    NODATA,
    Span,
    break_ns,
    bucket_ns,
    derived_spans,
)

WIDTH, HEIGHT = 960, 360
LEFT, RIGHT, TOP, BOTTOM = 78, 16, 30, 46
NS = fmt.NS
TIME_STEPS_S = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
                86400)


@dataclass
class TrendChart:
    svg: Markup
    hover: dict[str, Any]  # for the page's script: bucket positions, tooltips, spans
    kinds: set[str] = field(default_factory=set)  # span kinds drawn (the legend says which)


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5, 5 x 10^n steps)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return []
    if high - low < max(abs(low), abs(high), 1.0) * 1e-9:  # flat: show it mid-chart
        pad = abs(low) * 0.1 if abs(low) > 1e-6 else 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    if start > low:  # low / step underflowed to zero (a subnormal low)
        start -= step
    ticks, value = [], start
    while True:  # up to the first tick at or above high
        ticks.append(round(value / step) * step)
        if value >= high - step * 1e-9:
            return ticks
        value += step


def time_ticks(start_ns: int, end_ns: int, most: int = 9) -> tuple[int, list[int]]:
    """A round step (10 s ... 1 day) giving at most ``most`` ticks, and the ticks (UTC)."""
    span_s = max((end_ns - start_ns) / NS, 1.0)
    step_s = next((s for s in TIME_STEPS_S if span_s / s <= most), TIME_STEPS_S[-1])
    step = step_s * NS
    first = -(-start_ns // step) * step
    return step_s, list(range(first, end_ns + 1, step))


def trend_svg(points: Sequence[Mapping[str, Any]], *, start_ns: int, end_ns: int,
              unit: str, limits: Mapping[str, Any] | None = None, title: str = "",
              spans: Sequence[Span] = (), step_ns: int | None = None) -> Markup:
    """SVG for bucketed history points (``ts_ns``, ``mean``, ``min``, ``max``, ``good``)."""
    return trend_chart(points, start_ns=start_ns, end_ns=end_ns, unit=unit, limits=limits,
                       title=title, spans=spans, step_ns=step_ns).svg


def trend_chart(points: Sequence[Mapping[str, Any]], *, start_ns: int, end_ns: int,
                unit: str, limits: Mapping[str, Any] | None = None, title: str = "",
                spans: Sequence[Span] = (), step_ns: int | None = None,
                states: tuple[str, str] | None = None) -> TrendChart:
    """The chart and its tooltip data; ``states`` names 0 and 1 of a two-valued channel."""
    return _Layout(points, start_ns=start_ns, end_ns=end_ns, unit=unit, limits=limits,
                   title=title, spans=spans, step_ns=step_ns, states=states).chart()


class _Layout:
    def __init__(self, points: Sequence[Mapping[str, Any]], *, start_ns: int, end_ns: int,
                 unit: str, limits: Mapping[str, Any] | None, title: str,
                 spans: Sequence[Span], step_ns: int | None,
                 states: tuple[str, str] | None = None) -> None:
        self.states = states
        self.points = sorted(points, key=lambda p: int(p["ts_ns"]))
        self.start_ns, self.end_ns = start_ns, max(end_ns, start_ns + 1)
        self.unit, self.title = unit, title
        self.step = step_ns or bucket_ns(self.points)
        self.limit_lines = [(name, float(limits[name])) for name in
                            ("high_action", "high_alert", "low_alert", "low_action")
                            if limits and isinstance(limits.get(name), int | float)]
        self.spans = [s for s in spans if s.end_ns > self.start_ns and s.start_ns < self.end_ns]
        self.spans += derived_spans(self.points, self.step, self.start_ns, self.end_ns,
                                     self.spans)
        self.low, self.high, self.ticks = self._y_range()

    # --- scales ---------------------------------------------------------------------------

    def _y_range(self) -> tuple[float, float, list[float]]:
        if self.states is not None:  # a door or a status: 0 and 1, named
            return -0.15, 1.15, [0.0, 1.0]
        values = [float(p[k]) for p in self.points for k in ("min", "max")
                  if p.get(k) is not None]
        values += [v for _, v in self.limit_lines]
        if values:
            low, high = min(values), max(values)
            pad = (high - low) * 0.08 or abs(high) * 0.1 or 1.0
            low, high = low - pad, high + pad
            if min(values) >= 0 and (low < 0 or fmt.is_count(self.unit)):
                low = 0.0  # counts start at zero: a band near a limit must not look high
        else:
            low, high = 0.0, 1.0
        ticks = nice_ticks(low, high)
        if ticks:
            low, high = min(low, ticks[0]), max(high, ticks[-1])
        return low, high, ticks

    def x(self, ts: int) -> float:
        return LEFT + (ts - self.start_ns) / (self.end_ns - self.start_ns) * (
            WIDTH - LEFT - RIGHT)

    def clamp_x(self, ts: int) -> float:
        return min(max(self.x(ts), LEFT), WIDTH - RIGHT)

    def y(self, v: float) -> float:
        return TOP + (self.high - v) / (self.high - self.low) * (HEIGHT - TOP - BOTTOM)

    # --- drawing --------------------------------------------------------------------------

    def chart(self) -> TrendChart:
        parts: list[str] = [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'role="img" aria-label="{esc(self.title)}" class="chart" id="trend-chart">',
            f"<title>{esc(self.title)}</title>",
            '<defs><pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><rect class="hatch-bg" width="8" height="8"/>'
            '<line class="hatch-line" x1="0" y1="0" x2="0" y2="8"/></pattern></defs>',
        ]
        parts += self._shading()
        parts += self._y_axis()
        parts += self._time_axis()
        parts += _band_and_line(self)
        parts += self._limits()
        parts += self._excursion_strips()
        parts += [f'<line class="crosshair" x1="0" x2="0" y1="{TOP}" y2="{HEIGHT - BOTTOM}"/>',
                  '<circle class="hover-dot" cx="0" cy="0" r="3.5"/>',
                  f'<rect class="plot-frame" x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}"'
                  f' height="{HEIGHT - TOP - BOTTOM}"/>', "</svg>"]
        return TrendChart(Markup("".join(parts)), self._hover(),
                          {s.kind for s in self.spans})

    def _rect(self, span: Span, cls: str, y: float = TOP, height: float | None = None) -> str:
        x0, x1 = self.clamp_x(span.start_ns), self.clamp_x(span.end_ns)
        h = HEIGHT - TOP - BOTTOM if height is None else height
        return (f'<rect class="{cls}" x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0, 1.5):.1f}" '
                f'height="{h:.1f}"><title>{esc(span.label)}</title></rect>')

    def _shading(self) -> list[str]:
        out = []
        for kind in (NODATA, GAP, MAINTENANCE, EXCURSION_ALERT, EXCURSION_ACTION):
            for span in (s for s in self.spans if s.kind == kind):
                out.append(self._rect(span, kind))
                x0, x1 = self.clamp_x(span.start_ns), self.clamp_x(span.end_ns)
                if kind == NODATA and x1 - x0 >= 60:
                    out.append(f'<text class="nodata-label" x="{(x0 + x1) / 2:.1f}" '
                               f'y="{self._free_y():.1f}" text-anchor="middle">no data</text>')
        return out

    def _free_y(self) -> float:
        """A height for a label that no limit line runs through."""
        plot_h = HEIGHT - TOP - BOTTOM
        lines = [self.y(v) for _, v in self.limit_lines]
        candidates = [TOP + plot_h * f for f in (0.5, 0.3, 0.7, 0.15, 0.85)]
        for c in candidates:
            if all(abs(c - 5 - ly) >= 16 for ly in lines):  # text sits above its baseline
                return c
        return max(candidates, key=lambda c: min(abs(c - 5 - ly) for ly in lines))

    def _excursion_strips(self) -> list[str]:
        return [self._rect(s, f"strip {s.kind}", TOP, 6) for s in self.spans
                if s.kind in (EXCURSION_ALERT, EXCURSION_ACTION)]

    def _y_axis(self) -> list[str]:
        out = []
        labels = list(self.states) if self.states else fmt.axis_labels(self.ticks)
        for tick, label in zip(self.ticks, labels, strict=True):
            ty = self.y(tick)
            out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" '
                       f'y2="{ty:.1f}"/>')
            out.append(f'<text class="tick y-tick" x="{LEFT - 6}" y="{ty + 4:.1f}" '
                       f'text-anchor="end">{esc(label)}</text>')
        # the unit sits above the plot, clear of the top tick label
        if self.states is None:
            out.append(f'<text class="unit" x="{LEFT}" y="{TOP - 12}">'
                       f"{esc(fmt.display_unit(self.unit))}</text>")
        return out

    def _time_axis(self) -> list[str]:
        step_s, ticks = time_ticks(self.start_ns, self.end_ns)
        out, last_date = [], ""
        base = HEIGHT - BOTTOM
        for tick in ticks:
            tx = self.x(tick)
            moment = fmt.utc(tick)
            out.append(f'<line class="grid" x1="{tx:.1f}" x2="{tx:.1f}" y1="{TOP}" y2="{base}"/>')
            clock = moment.strftime("%H:%M" if step_s >= 60 else "%H:%M:%S")
            out.append(f'<text class="tick x-tick" x="{tx:.1f}" y="{base + 16}" '
                       f'text-anchor="middle">{clock}</text>')
            date = moment.strftime("%Y-%m-%d")
            if date != last_date:
                out.append(f'<text class="tick date" x="{tx:.1f}" y="{base + 31}" '
                           f'text-anchor="middle">{date}</text>')
                last_date = date
        out.append(f'<text class="unit" x="{WIDTH - RIGHT}" y="{HEIGHT - 4}" '
                   'text-anchor="end">UTC</text>')
        return out

    def _limits(self) -> list[str]:
        lines: list[str] = []
        labels: list[list[Any]] = []
        levels = {name.split("_")[1] for name, _ in self.limit_lines}
        sides = {level: {n.split("_")[0] for n, _ in self.limit_lines if n.endswith(level)}
                 for level in levels}
        for name, value in self.limit_lines:
            side, level = name.split("_")
            ly = self.y(value)
            text = (f"{side + ' ' if len(sides[level]) > 1 else ''}{level} limit "
                    f"{fmt.fmt_limit(value, self.unit)}")
            lines.append(f'<line class="limit-{level}" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
                         f'y1="{ly:.1f}" y2="{ly:.1f}"><title>{esc(text)} '
                         f"{esc(fmt.display_unit(self.unit))}</title></line>")
            labels.append([ly - 5 if ly - 5 > TOP + 12 else ly + 15, level, text])
        labels.sort()
        for prev, cur in itertools.pairwise(labels):  # keep labels from overlapping
            cur[0] = max(float(cur[0]), float(prev[0]) + 15)
        for ly, level, text in labels:
            lines.append(f'<text class="limit-label {level}" x="{WIDTH - RIGHT - 6}" '
                         f'y="{float(ly):.1f}" text-anchor="end">{esc(text)}</text>')
        return lines

    def _hover(self) -> dict[str, Any]:
        unit = fmt.display_unit(self.unit)
        buckets = []
        for p in self.points:
            ts = int(p["ts_ns"])
            mean = p.get("mean")
            lines = [fmt.fmt_span(ts, ts + self.step)]
            if mean is not None and self.states is not None:
                lines.append(f"{self.states[1]} in {float(mean) * 100:.0f} % of good readings")
            elif mean is not None:
                lines.append(f"mean {fmt.fmt_value(float(mean), self.unit)} {unit}".rstrip())
                lines.append(f"min {fmt.fmt_value(_num(p.get('min')), self.unit)} · "
                             f"max {fmt.fmt_value(_num(p.get('max')), self.unit)}")
            count, good = p.get("count"), p.get("good")
            if isinstance(count, int):
                good_n = good if isinstance(good, int) else 0
                said = "all good" if good_n == count else "none good" if not good_n else \
                    f"{good_n} good"
                lines.append(f"{count:,} reading{'s' if count != 1 else ''}, {said}")
            y = None if mean is None else round(self.y(float(mean)), 1)
            buckets.append([round(self.clamp_x(ts + self.step // 2), 1), y, "\n".join(lines)])
        spans = [[round(self.clamp_x(s.start_ns), 1), round(self.clamp_x(s.end_ns), 1),
                  s.kind, s.label] for s in self.spans]
        return {"width": WIDTH, "height": HEIGHT, "plot": [LEFT, TOP, WIDTH - RIGHT,
                                                           HEIGHT - BOTTOM],
                "buckets": buckets, "spans": spans}


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _runs(chart: _Layout) -> list[list[Mapping[str, Any]]]:
    """Consecutive buckets with a good mean; a hole in the data or a gap breaks the line."""
    limit = break_ns(chart.points, chart.step)
    cuts = sorted(s.start_ns for s in chart.spans if s.kind in (GAP, MAINTENANCE))
    runs: list[list[Mapping[str, Any]]] = []
    prev: int | None = None
    for p in chart.points:
        if p.get("mean") is None:
            prev = None
            continue
        ts = int(p["ts_ns"])
        if prev is None or ts - prev > limit or any(prev < c <= ts for c in cuts):
            runs.append([])
        runs[-1].append(p)
        prev = ts
    return runs


def _band_and_line(chart: _Layout) -> list[str]:
    out = []
    half = chart.step // 2

    def px(p: Mapping[str, Any]) -> float:  # the bucket's middle, kept inside the plot
        return chart.clamp_x(int(p["ts_ns"]) + half)

    for run in _runs(chart):
        upper = " ".join(f"{px(p):.1f},{chart.y(float(p['max'])):.1f}" for p in run)
        lower = " ".join(f"{px(p):.1f},{chart.y(float(p['min'])):.1f}" for p in reversed(run))
        out.append(f'<polygon class="band" points="{upper} {lower}"/>')
        line = " ".join(f"{px(p):.1f},{chart.y(float(p['mean'])):.1f}" for p in run)
        if len(run) == 1:
            cx, cy = line.split(",")
            out.append(f'<circle class="series" cx="{cx}" cy="{cy}" r="2.5"/>')
        else:
            out.append(f'<polyline class="series" points="{line}"/>')
    return out
