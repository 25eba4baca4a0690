"""Trend charts as inline SVG, drawn on the server: no charting library, no script needed.

A chart shows the mean of good readings per bucket as a line, the min/max of
each bucket as a band, the alert and action limits in force as dashed lines,
and the stretches without good data (gaps, communication errors) shaded, so
that a missing line is never mistaken for a flat one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from .render import Markup, esc

WIDTH, HEIGHT = 960, 340
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 16, 34
NS = 1_000_000_000


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
    ticks, value = [], start
    while True:  # up to the first tick at or above high
        ticks.append(round(value / step) * step)
        if value >= high - step * 1e-9:
            return ticks
        value += step


def _fmt(value: float) -> str:
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-2):
        return f"{value:.3g}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def trend_svg(points: Sequence[Mapping[str, Any]], *, start_ns: int, end_ns: int,
              unit: str, limits: Mapping[str, Any] | None = None,
              title: str = "") -> Markup:
    """SVG for bucketed history points (``ts_ns``, ``mean``, ``min``, ``max``, ``good``)."""
    limit_lines = [(name, float(limits[name])) for name in
                   ("high_action", "high_alert", "low_alert", "low_action")
                   if limits and isinstance(limits.get(name), int | float)]
    values = [float(p[k]) for p in points for k in ("min", "max") if p.get(k) is not None]
    values += [v for _, v in limit_lines]
    if values:
        low, high = min(values), max(values)
        pad = (high - low) * 0.08 or abs(high) * 0.1 or 1.0
        low, high = low - pad, high + pad
        if min(values) >= 0 > low:
            low = 0.0
    else:
        low, high = 0.0, 1.0
    ticks = nice_ticks(low, high)
    if ticks:
        low, high = min(low, ticks[0]), max(high, ticks[-1])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = max(end_ns - start_ns, 1)

    def x(ts: int) -> float:
        return LEFT + (ts - start_ns) / span * plot_w

    def y(v: float) -> float:
        return TOP + (high - v) / (high - low) * plot_h

    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{esc(title)}" class="chart">',
        f"<title>{esc(title)}</title>",
    ]
    for tick in ticks:
        ty = y(tick)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" '
                     f'y2="{ty:.1f}"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end">'
                     f"{esc(_fmt(tick))}</text>")
    hours = span / NS / 3600
    step_h = 1 if hours <= 12 else 3 if hours <= 36 else 12
    first = math.ceil(start_ns / NS / 3600 / step_h) * step_h * 3600 * NS
    tick_ns = first
    while tick_ns <= end_ns:
        tx = x(tick_ns)
        label = datetime.fromtimestamp(tick_ns / NS, UTC).strftime("%H:%M")
        parts.append(f'<line class="grid" x1="{tx:.1f}" x2="{tx:.1f}" y1="{TOP}" '
                     f'y2="{HEIGHT - BOTTOM}"/>')
        parts.append(f'<text x="{tx:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
                     f"{label}</text>")
        tick_ns += step_h * 3600 * NS
    parts.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 4}" text-anchor="end">UTC</text>')
    parts.append(f'<text x="8" y="{TOP + 10}">{esc(unit)}</text>')
    parts += _gaps(points, start_ns, end_ns, x)
    parts += _band_and_line(points, x, y)
    for name, value in limit_lines:
        level = "action" if name.endswith("action") else "alert"
        ly = y(value)
        parts.append(f'<line class="limit-{level}" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
                     f'y1="{ly:.1f}" y2="{ly:.1f}"><title>{esc(name)} {esc(_fmt(value))}'
                     "</title></line>")
        parts.append(f'<text x="{WIDTH - RIGHT - 4}" y="{ly - 4:.1f}" text-anchor="end">'
                     f"{esc(name.replace('_', ' '))} {esc(_fmt(value))}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))


def _bucket_ns(points: Sequence[Mapping[str, Any]]) -> int:
    if len(points) < 2:
        return NS * 60
    steps = [int(b["ts_ns"]) - int(a["ts_ns"]) for a, b in itertools.pairwise(points)]
    return max(min(steps), 1)


def _runs(points: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Consecutive buckets with a good mean; a missing bucket breaks the line."""
    step = _bucket_ns(points)
    runs: list[list[Mapping[str, Any]]] = []
    prev: int | None = None
    for p in points:
        if p.get("mean") is None:
            prev = None
            continue
        ts = int(p["ts_ns"])
        if prev is None or ts - prev > step * 1.5:
            runs.append([])
        runs[-1].append(p)
        prev = ts
    return runs


def _band_and_line(points: Sequence[Mapping[str, Any]], x: Any, y: Any) -> list[str]:
    out = []
    half = _bucket_ns(points) // 2

    def px(p: Mapping[str, Any]) -> float:  # the bucket's middle, kept inside the plot
        return float(min(max(x(int(p["ts_ns"]) + half), LEFT), WIDTH - RIGHT))

    for run in _runs(points):
        upper = " ".join(f"{px(p):.1f},{y(float(p['max'])):.1f}" for p in run)
        lower = " ".join(f"{px(p):.1f},{y(float(p['min'])):.1f}" for p in reversed(run))
        out.append(f'<polygon class="band" points="{upper} {lower}"/>')
        line = " ".join(f"{px(p):.1f},{y(float(p['mean'])):.1f}" for p in run)
        if len(run) == 1:
            cx, cy = line.split(",")
            out.append(f'<circle class="series" cx="{cx}" cy="{cy}" r="2.5"/>')
        else:
            out.append(f'<polyline class="series" points="{line}"/>')
    return out


def _gaps(points: Sequence[Mapping[str, Any]], start_ns: int, end_ns: int,
          x: Any) -> list[str]:
    """Shade bucket spans that had readings but none good, and long spans with none."""
    out = []
    step = _bucket_ns(points)
    for p in points:
        if p.get("mean") is None:
            ts = int(p["ts_ns"])
            out.append(f'<rect class="gap" x="{x(ts):.1f}" y="{TOP}" '
                       f'width="{max(x(ts + step) - x(ts), 1):.1f}" '
                       f'height="{HEIGHT - TOP - BOTTOM}"><title>no good reading</title></rect>')
    times = [start_ns] + [int(p["ts_ns"]) for p in points] + [end_ns]
    for a, b in itertools.pairwise(times):
        if b - a > step * 3 and b - a > 5 * 60 * NS:
            out.append(f'<rect class="gap" x="{x(a):.1f}" y="{TOP}" '
                       f'width="{x(b) - x(a):.1f}" height="{HEIGHT - TOP - BOTTOM}">'
                       "<title>no data</title></rect>")
    return out
