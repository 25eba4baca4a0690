"""Per-channel figures for a period: min/max/mean, time in alert and action, gaps, coverage.

Time is counted by holding each reading until the next one, but never longer
than ``hold`` (five expected intervals, or twice the typical spacing if that
is longer): a reading does not vouch for the air after its device went
quiet. Time beyond a limit counts only good readings, judged against the
limits of the location state stamped on each reading. "Time in alert" is
time beyond an alert limit but within the action limit; "time in action" is
time beyond an action limit. Min, max and mean are over good readings only;
the mean is the plain mean of the readings.

A stretch longer than ``hold`` without readings is a gap. Gaps the store
recorded with a cause (daemon stopped, device offline) are listed with it;
other holes are listed as "no readings".

Two marks on readings are reported as such, because a figure that rests on
them means something else: quality ``maintenance`` (``MaintenanceMarker``:
the channel was in maintenance mode; a reading that was already not good
keeps its quality and carries the note ``maintenance mode (...)`` in its
detail) counts as "time in maintenance", held like any reading, and its
stretches are listed; a good reading whose detail says ``calibration overdue
(...)`` (``CalibrationMonitor.flag_readings``) still counts in every figure,
as it does for the alarms, and is counted and described per channel so the
report says which figures rest on an instrument out of calibration.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from monitor.qa.calibration import OVERDUE_NOTE

from .limits import Limits

NS = 1_000_000_000
MAINTENANCE = "maintenance"  # the quality MaintenanceMarker gives a good reading
MAINTENANCE_NOTE = "maintenance mode"  # MaintenanceMarker's detail: "maintenance mode (<target>)"
DEVICE_MAINTENANCE = "maintenance reported by the device"


class SampleLike(Protocol):
    @property
    def ts_ns(self) -> int: ...
    @property
    def value(self) -> float | None: ...
    @property
    def quality(self) -> str: ...
    @property
    def state(self) -> str | None: ...
    @property
    def detail(self) -> str | None: ...


class GapLike(Protocol):
    @property
    def start_ns(self) -> int: ...
    @property
    def end_ns(self) -> int | None: ...
    @property
    def cause(self) -> str: ...
    @property
    def detail(self) -> str | None: ...


@dataclass(frozen=True)
class GapSpan:
    start_ns: int
    end_ns: int
    cause: str
    detail: str | None = None

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / NS


@dataclass(frozen=True)
class Span:
    """A stretch of the record under a mark (maintenance mode), with the mark's text."""

    start_ns: int
    end_ns: int
    note: str

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / NS


@dataclass
class CalibrationFlags:
    """Good readings of one channel flagged ``calibration overdue (...)``."""

    readings: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    notes: dict[str, int] = field(default_factory=dict)  # note -> readings

    def add(self, ts_ns: int, note: str) -> None:
        self.readings += 1
        self.first_ns = ts_ns if self.first_ns is None else min(self.first_ns, ts_ns)
        self.last_ns = ts_ns if self.last_ns is None else max(self.last_ns, ts_ns)
        self.notes[note] = self.notes.get(note, 0) + 1


def marked_note(detail: str | None, prefix: str) -> str | None:
    """The note ``prefix (...)`` in a reading's detail (notes are joined with "; "), whole."""
    if not detail:
        return None
    start = detail.find(prefix + " (")
    if start < 0:
        return None
    depth = 0
    for i in range(start + len(prefix) + 1, len(detail)):
        if detail[i] == "(":
            depth += 1
        elif detail[i] == ")":
            depth -= 1
            if depth == 0:
                return detail[start:i + 1]
    return detail[start:]


def maintenance_note(sample: SampleLike) -> str | None:
    """Why ``sample`` counts as taken under maintenance, or None."""
    note = marked_note(sample.detail, MAINTENANCE_NOTE)
    if note is not None:
        return note
    return DEVICE_MAINTENANCE if sample.quality == MAINTENANCE else None


@dataclass
class ChannelSummary:
    channel: str
    location: str
    unit: str
    quantity: str
    readings: int = 0
    good: int = 0
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    time_alert_s: float = 0.0
    time_action_s: float = 0.0
    time_maintenance_s: float = 0.0  # time held by readings taken under maintenance
    maintenance_readings: int = 0
    covered_s: float = 0.0  # time vouched for by good readings
    window_s: float = 0.0
    gap_s: float = 0.0
    not_good: dict[str, int] = field(default_factory=dict)  # quality -> readings
    gaps: list[GapSpan] = field(default_factory=list)
    maintenance: list[Span] = field(default_factory=list)
    calibration: CalibrationFlags = field(default_factory=CalibrationFlags)
    limits: dict[str, Limits] = field(default_factory=dict)

    @property
    def coverage(self) -> float:
        return self.covered_s / self.window_s if self.window_s else 0.0

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items()
               if k not in ("gaps", "limits", "maintenance", "calibration")}
        out["coverage"] = self.coverage
        out["gaps"] = [g.__dict__ for g in self.gaps]
        out["maintenance"] = [m.__dict__ for m in self.maintenance]
        out["calibration_overdue"] = dict(self.calibration.__dict__)
        out["limits"] = {state: lim.__dict__ for state, lim in self.limits.items()}
        return out


def hold_ns(samples: Sequence[SampleLike], interval_s: float) -> int:
    base = int(max(interval_s, 0.1) * 5 * NS)
    if len(samples) < 3:
        return base
    spacing = statistics.median(b.ts_ns - a.ts_ns for a, b in itertools.pairwise(samples))
    return max(base, int(2 * spacing))


class Summariser:
    """Builds a ``ChannelSummary`` from readings fed in time order, chunk by chunk, so that
    a month of one-second readings never has to be in memory at once."""

    def __init__(self, head: ChannelSummary, from_ns: int, to_ns: int, *, interval_s: float,
                 limits: Mapping[str, Limits]) -> None:
        self.s = head
        self.from_ns, self.to_ns = from_ns, to_ns
        self.interval_s = interval_s
        self.limits = dict(limits)
        self.fallback = _any(limits)
        self.hold: int | None = None
        self.cursor = from_ns  # end of the time vouched for so far
        self.holes: list[GapSpan] = []
        self._pending: SampleLike | None = None  # the last sample waits for its successor
        self._sum = 0.0
        head.window_s = (to_ns - from_ns) / NS
        head.limits = dict(limits)

    def feed(self, samples: Sequence[SampleLike]) -> None:
        if not samples:
            return
        if self.hold is None:
            self.hold = hold_ns(samples, self.interval_s)
        for sample in samples:
            if self._pending is not None:
                self._account(self._pending, sample.ts_ns)
            else:  # the first reading: a hole before it only if longer than a hold
                if sample.ts_ns - self.from_ns > self.hold:
                    self.holes.append(GapSpan(self.from_ns, sample.ts_ns, "no readings"))
                self.cursor = sample.ts_ns
            self._pending = sample

    def _account(self, sample: SampleLike, nxt: int) -> None:
        s, ts = self.s, sample.ts_ns
        assert self.hold is not None
        if ts > self.cursor:
            self.holes.append(GapSpan(self.cursor, ts, "no readings"))
        end = max(ts, min(nxt, self.to_ns, ts + self.hold))
        span = (end - ts) / NS
        self.cursor = end
        s.readings += 1
        value = sample.value
        note = maintenance_note(sample)
        if note is not None:
            s.maintenance_readings += 1
            s.time_maintenance_s += span
            last = s.maintenance[-1] if s.maintenance else None
            if last is not None and last.note == note and last.end_ns >= ts:
                s.maintenance[-1] = Span(last.start_ns, end, note)
            else:
                s.maintenance.append(Span(ts, end, note))
        if sample.quality != "good" or value is None:
            s.not_good[sample.quality] = s.not_good.get(sample.quality, 0) + 1
            return
        s.good += 1
        s.covered_s += span
        overdue = marked_note(sample.detail, OVERDUE_NOTE)
        if overdue is not None:
            s.calibration.add(ts, overdue)
        self._sum += value
        s.min = value if s.min is None else min(s.min, value)
        s.max = value if s.max is None else max(s.max, value)
        level = self.limits.get(sample.state or "", self.fallback).level(value)
        if level == "action":
            s.time_action_s += span
        elif level == "alert":
            s.time_alert_s += span

    def finish(self, recorded_gaps: Sequence[GapLike] = ()) -> ChannelSummary:
        if self._pending is not None:
            self._account(self._pending, self.to_ns)
            self._pending = None
        if self.to_ns > self.cursor:
            self.holes.append(GapSpan(self.cursor, self.to_ns, "no readings"))
            self.cursor = self.to_ns
        s = self.s
        s.mean = self._sum / s.good if s.good else None
        s.gaps = merge_gaps(recorded_gaps, self.holes, self.from_ns, self.to_ns)
        s.gap_s = sum(g.seconds for g in s.gaps)
        return s


def summarise(
    head: ChannelSummary,
    samples: Sequence[SampleLike],
    from_ns: int,
    to_ns: int,
    *,
    interval_s: float,
    limits: Mapping[str, Limits],
    recorded_gaps: Sequence[GapLike] = (),
) -> ChannelSummary:
    """Fill ``head`` (channel, location, unit, quantity set) from ``samples`` in the window."""
    summariser = Summariser(head, from_ns, to_ns, interval_s=interval_s, limits=limits)
    summariser.feed(samples)
    return summariser.finish(recorded_gaps)


def _any(limits: Mapping[str, Limits]) -> Limits:
    """Limits to use for a reading without a state: only if both states agree."""
    values = list(limits.values())
    if values and all(v == values[0] for v in values):
        return values[0]
    return Limits()


def merge_gaps(recorded: Sequence[GapLike], holes: Sequence[GapSpan], from_ns: int,
               to_ns: int) -> list[GapSpan]:
    """Recorded gaps (clipped to the window) plus the holes none of them explains."""
    out = [GapSpan(max(g.start_ns, from_ns), min(g.end_ns if g.end_ns is not None else to_ns,
                                                  to_ns), g.cause, g.detail)
           for g in recorded if g.start_ns < to_ns and (g.end_ns is None or g.end_ns > from_ns)]
    out = [g for g in out if g.end_ns > g.start_ns]
    for hole in holes:
        explained = sum(max(0, min(hole.end_ns, g.end_ns) - max(hole.start_ns, g.start_ns))
                        for g in out)
        if explained < (hole.end_ns - hole.start_ns) / 2:
            out.append(hole)
    return sorted(out, key=lambda g: g.start_ns)
