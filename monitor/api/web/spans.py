"""Stretches of time a trend chart marks, and the ones it works out from the buckets itself.

Recorded gaps, maintenance and excursions come from the records (``marks``);
from the buckets come the stretches with readings but none of good quality
(a gap too) and the stretches with nothing recorded at all ("no data": not a
gap, e.g. before the channel's record starts). Time already explained by a
recorded gap or maintenance is not marked twice.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import fmt

NS = fmt.NS
GAP, MAINTENANCE, NODATA = "gap", "maintenance", "nodata"
EXCURSION_ALERT, EXCURSION_ACTION = "excursion-alert", "excursion-action"


@dataclass(frozen=True)
class Span:
    """A stretch of time the chart marks; ``label`` is its tooltip."""

    kind: str  # GAP, MAINTENANCE, EXCURSION_ALERT, EXCURSION_ACTION or NODATA
    start_ns: int
    end_ns: int
    label: str


def bucket_ns(points: Sequence[Mapping[str, Any]]) -> int:
    if len(points) < 2:
        return NS * 60
    steps = [int(b["ts_ns"]) - int(a["ts_ns"]) for a, b in itertools.pairwise(points)]
    return max(min(steps), 1)


def break_ns(points: Sequence[Mapping[str, Any]], step: int) -> int:
    """How far apart two buckets may be and still be joined by the line.

    Half the buckets of a counter that samples every 10 s are empty at a 5 s
    bucket size: the typical spacing of the data, not the bucket, decides.
    """
    times = [int(p["ts_ns"]) for p in points]
    spacing = statistics.median(b - a for a, b in itertools.pairwise(times)) \
        if len(times) > 2 else step
    return int(max(step * 1.5, spacing * 2.5))


def merge(intervals: Sequence[tuple[int, int]], slack: int = 0) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1] + slack:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def subtract(intervals: Sequence[tuple[int, int]],
              cuts: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    cuts = merge(cuts)
    for first, b in intervals:
        a = first
        for c, d in cuts:
            if d <= a or c >= b:
                continue
            if c > a:
                out.append((a, c))
            a = max(a, d)
            if a >= b:
                break
        if a < b:
            out.append((a, b))
    return out


def derived_spans(points: Sequence[Mapping[str, Any]], step: int, start_ns: int,
                   end_ns: int, given: Sequence[Span]) -> list[Span]:
    """Gaps the buckets show (readings, none good) and the empty "no data" stretches.

    Time already explained by a recorded gap or maintenance is not marked again.
    """
    explained = [(s.start_ns, s.end_ns) for s in given if s.kind in (GAP, MAINTENANCE)]
    bad = merge([(int(p["ts_ns"]), int(p["ts_ns"]) + step) for p in points
                  if p.get("mean") is None])
    out = []
    for a, b in subtract(bad, explained):
        out.append(Span(GAP, a, b, f"{fmt.fmt_span(a, b)}: readings, none of good quality "
                                   "(communication error, device fault, stale or out of range)"))
    slack = break_ns(points, step)
    recorded = merge([(int(p["ts_ns"]), int(p["ts_ns"]) + step) for p in points], slack)
    empty = subtract([(start_ns, end_ns)], recorded + explained)
    first = int(points[0]["ts_ns"]) if points else None
    for a, b in empty:
        if b - a <= slack or b - a < (end_ns - start_ns) // 200:
            continue
        label = (f"no readings recorded before {fmt.fmt_time(b)}" if first is not None and
                 b <= first else f"{fmt.fmt_span(a, b if b < end_ns else None, open_text='now')}"
                 ": no readings recorded")
        out.append(Span(NODATA, a, b, label))
    return out
