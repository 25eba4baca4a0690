"""Trend plots of excursions as inline SVG, drawn by matplotlib's SVG backend.

Each plot shows the channel's good readings as a line that breaks wherever
there is no good data (a gap is drawn as a gap, never bridged), readings
taken in maintenance mode as purple dots over a purple band, readings of
another quality as grey crosses, good readings of a device whose calibration
was overdue circled in brown, the alert and action limits in force when the
excursion was raised, the excursion window shaded, and the peak marked.
Times are UTC. Figures are built with ``matplotlib.figure.Figure`` (no pyplot
global state), and the SVG is made deterministic (ids salted per plot, so that
several plots inlined in one page never share an id; no date) so the same
data always gives the same file.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import UTC, datetime

import matplotlib
from matplotlib import dates as mdates
from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from monitor.qa.calibration import OVERDUE_NOTE

from .limits import Limits
from .stats import NS, GapSpan, SampleLike, Span, maintenance_note, marked_note

ACTION_COLOUR = "#c62828"
ALERT_COLOUR = "#ef8f00"
VALUE_COLOUR = "#1f4e99"
GAP_COLOUR = "#9e9e9e"
MAINTENANCE_COLOUR = "#7b1fa2"
CALIBRATION_COLOUR = "#8d6e63"


def _dt(ts_ns: int) -> float:
    """Matplotlib's date number (days since its epoch, 1970-01-01 by default) of UTC ns."""
    return ts_ns / (86400 * NS) - _EPOCH_DAYS


_EPOCH = mdates.get_epoch()  # type: ignore[no-untyped-call]
_EPOCH_DAYS = datetime.fromisoformat(_EPOCH).replace(tzinfo=UTC).timestamp() / 86400


def _num(value: float) -> str:
    """A value as the report's text gives it: thousands separated from 100,000 up."""
    return f"{value:,.0f}" if abs(value) >= 100_000 else f"{value:g}"


def excursion_svg(
    samples: Sequence[SampleLike],
    *,
    title: str,
    unit: str,
    window: tuple[int, int],
    excursion: tuple[int, int | None],
    level: str,
    limits: Limits,
    gaps: Sequence[GapSpan],
    hold_ns: int,
    maintenance: Sequence[Span] = (),
    peak: tuple[int, float] | None = None,
    id_salt: str = "plot",
) -> str:
    """An SVG document (text) of one excursion's trend."""
    fig = Figure(figsize=(8.0, 3.2), dpi=100)
    ax = fig.subplots()
    xs: list[float] = []
    ys: list[float] = []
    marks: dict[str, tuple[list[float], list[float]]] = {
        "maintenance": ([], []), "bad": ([], []), "calibration": ([], [])}
    last_ts: int | None = None
    broken = False  # a reading that is not good came since the last good one
    for sample in samples:
        value = sample.value
        finite = value is not None and math.isfinite(value)
        if sample.quality != "good" or not finite:
            kind = "maintenance" if maintenance_note(sample) is not None else "bad"
            if value is not None and finite:
                marks[kind][0].append(_dt(sample.ts_ns))
                marks[kind][1].append(value)
            broken = True
            continue
        assert value is not None
        if last_ts is not None and (broken or sample.ts_ns - last_ts > hold_ns):
            xs.append(_dt(last_ts + 1))
            ys.append(math.nan)  # break the line: no good data here
        broken = False
        xs.append(_dt(sample.ts_ns))
        ys.append(value)
        last_ts = sample.ts_ns
        if marked_note(sample.detail, OVERDUE_NOTE) is not None:
            marks["calibration"][0].append(xs[-1])
            marks["calibration"][1].append(value)
    ax.plot(xs, ys, color=VALUE_COLOUR, linewidth=1.2, label="reading (good)")
    styles = (("calibration", "o", 5, CALIBRATION_COLOUR, "calibration overdue"),
              ("maintenance", ".", 5, MAINTENANCE_COLOUR, "reading (maintenance mode)"),
              ("bad", "x", 4, GAP_COLOUR, "reading (not good quality)"))
    for kind, marker, size, colour, label in styles:
        mx, my = marks[kind]
        if mx:
            ax.plot(mx, my, linestyle="none", marker=marker, markersize=size, color=colour,
                    markerfacecolor="none" if marker == "o" else colour, label=label)
    maintenance_key: tuple[Artist, Artist] | None = None
    for span in maintenance:
        # a tint and a hatch: still told apart from the excursion's shading where they overlap
        left, right = _dt(max(span.start_ns, window[0])), _dt(min(span.end_ns, window[1]))
        tint = ax.axvspan(left, right, color=MAINTENANCE_COLOUR, alpha=0.08, linewidth=0)
        hatch = ax.axvspan(left, right, facecolor="none", edgecolor=MAINTENANCE_COLOUR + "80",
                           hatch="\\\\", linewidth=0)
        maintenance_key = maintenance_key or (tint, hatch)
    start, end = excursion
    shade_end = end if end is not None else window[1]
    colour = ACTION_COLOUR if level == "action" else ALERT_COLOUR
    ax.axvspan(_dt(start), _dt(shade_end), color=colour, alpha=0.12,
               label="excursion" + ("" if end is not None else " (ongoing)"))
    for gap in gaps:
        ax.axvspan(_dt(max(gap.start_ns, window[0])), _dt(min(gap.end_ns, window[1])),
                   facecolor="none", edgecolor=GAP_COLOUR, hatch="///", linewidth=0)
    if gaps:
        ax.plot([], [], color=GAP_COLOUR, linestyle="none", marker="s", markerfacecolor="none",
                label="no data")
    for name, style in (("high_action", "-"), ("low_action", "-"), ("high_alert", "--"),
                        ("low_alert", "--")):
        value = getattr(limits, name)
        if value is None:
            continue
        action = name.endswith("action")
        ax.axhline(value, color=ACTION_COLOUR if action else ALERT_COLOUR, linestyle=style,
                   linewidth=1.3,
                   label=f"{'action' if action else 'alert'} limit {_num(value)} {unit}".rstrip())
    if peak is not None:
        ax.plot([_dt(peak[0])], [peak[1]], "o", color=colour, markersize=5,
                label=f"peak {_num(peak[1])}")
    ax.set_xlim(_dt(window[0]), _dt(window[1]))
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_ylabel(unit)
    ax.set_xlabel("time (UTC)")
    # few ticks: an HH:MM:SS label is wide, and the legend takes a third of the width (at
    # least 7 allowed, so that every span from seconds to minutes finds an interval)
    locator = mdates.AutoDateLocator(  # type: ignore[no-untyped-call]
        tz=UTC, minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(
        # full clock times on the ticks (a bare ':30' seconds tick reads as a value to QA),
        # the same format on every tick of a plot, and the date (ISO) once beside the axis
        mdates.ConciseDateFormatter(  # type: ignore[no-untyped-call]
            locator, tz=UTC,
            formats=["%Y", "%b", "%d", "%H:%M", "%H:%M", "%H:%M:%S"],
            zero_formats=["", "%Y", "%b", "%d %b", "%H:%M", "%H:%M:%S"],
            offset_formats=["", "%Y", "%Y-%m", "%Y-%m-%d", "%Y-%m-%d", "%Y-%m-%d"],
        ))
    ax.tick_params(axis="x", labelsize=8)
    if max(abs(v) for v in ax.get_ylim()) >= 10_000:  # particle counts: 500,000 not 500000
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    ax.grid(True, color="#dddddd", linewidth=0.6)
    handles, labels = ax.get_legend_handles_labels()
    if maintenance_key is not None:  # both layers overlaid in one legend key
        at = next(i for i, label in enumerate(labels) if label.startswith("excursion"))
        handles.insert(at, maintenance_key)  # type: ignore[arg-type]
        labels.insert(at, "maintenance mode")
    ax.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              frameon=False)
    fig.tight_layout()
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": id_salt}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]  # drop the XML prolog and doctype: it is inlined in HTML
