"""The stretches of time a trend chart marks, gathered from the records that know them.

* Gaps come with the reading history (``monitor.storage.gaps``): the daemon
  was stopped or crashed, or the channel's device did not answer.
* Maintenance periods come from the alarm event log: every switch of
  maintenance mode for the channel, its device or its location is a
  ``maintenance`` event (an expiry is one too, written at the expiry time).
* Excursions come from the alarm service's excursion records (alert and
  action limits; health alarms are about the data, which the gaps show).

Everything here only reads. A record that cannot be read leaves its marks
out and says so (``notes``), rather than failing the page.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.api.alarmview import AlarmAccess
from monitor.config import ChannelInfo
from monitor.errors import MonitorError

from . import fmt
from .spans import EXCURSION_ACTION, EXCURSION_ALERT, GAP, MAINTENANCE, Span
from .views import alarm_units

CAUSES = {
    "daemon_stopped": "daemon stopped",
    "daemon_crashed": "daemon not running (crash, kill or power loss)",
    "device_offline": "device offline (no answer)",
}


@dataclass
class Marks:
    spans: list[Span] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def cause_text(cause: str) -> str:
    return CAUSES.get(cause, fmt.words(cause))


def recorded_gaps(gaps: Iterable[Mapping[str, Any]], start_ns: int, end_ns: int) -> list[Span]:
    """Gaps of the history view (UTC ISO times; an open gap lasts until now)."""
    out = []
    for gap in gaps:
        start = fmt.ns_of_iso(gap.get("start"))
        if start is None:
            continue
        end = fmt.ns_of_iso(gap.get("end"))
        text = f"{fmt.fmt_span(start, end, duration=True)}: {cause_text(str(gap.get('cause')))}"
        if gap.get("detail"):
            text += f" — {gap['detail']}"
        out.append(Span(GAP, max(start, start_ns), min(end or end_ns, end_ns), text))
    return out


def maintenance_spans(access: AlarmAccess, info: ChannelInfo, start_ns: int,
                      end_ns: int) -> list[Span]:
    """Maintenance of the channel, its device or its location overlapping the window."""
    service = access.service
    if service is None:
        return []
    targets = (info.id, info.device, info.location)
    rows = service.log.execute(
        "SELECT record FROM events WHERE kind = 'maintenance' AND point IN (?, ?, ?) "
        "AND ts_ns < ? ORDER BY seq", (*(f"maintenance:{t}" for t in targets), end_ns))
    opened: dict[str, tuple[int, int | None, str]] = {}
    out = []
    for (record,) in rows:
        event = json.loads(record)
        details = event.get("details") or {}
        target, ts = str(details.get("target")), int(event["ts_ns"])
        if details.get("on"):
            if target not in opened:
                opened[target] = (ts, details.get("until_ns"), str(event.get("reason") or ""))
        elif target in opened:
            out.append(_maintenance(target, *opened.pop(target), end=ts))
    for target, (since, until, reason) in opened.items():
        out.append(_maintenance(target, since, until, reason, end=None))
    return [s for s in out if s.end_ns > start_ns and s.start_ns < end_ns]


def _maintenance(target: str, since: int, until: int | None, reason: str,
                 end: int | None) -> Span:
    stop = end if end is not None else until  # an expiry not yet logged ends at its time
    text = f"{fmt.fmt_span(since, stop, duration=True)}: maintenance of {target}"
    if reason:
        text += f" — {reason}"
    return Span(MAINTENANCE, since, stop if stop is not None else 2**62, text)


def excursion_spans(access: AlarmAccess, info: ChannelInfo, start_ns: int,
                    end_ns: int) -> list[Span]:
    """Each stretch beyond the limit: an alarm raised again before it was acknowledged
    is one excursion record, but the time back within limits in between is not shaded."""
    service = access.service
    if service is None:
        return []
    out = []
    for exc in service.excursions(start_ns, end_ns, info.location):
        if exc.channel != info.id or str(exc.level) not in ("alert", "action"):
            continue
        kind = EXCURSION_ACTION if str(exc.level) == "action" else EXCURSION_ALERT
        limit_unit, peak_unit = alarm_units(exc.rule, info)
        what = (f"alarm {exc.alarm_id}, {fmt.words(exc.rule)} "
                f"{_with_unit(fmt.fmt_limit(exc.limit, limit_unit), limit_unit)}")
        if exc.peak is not None and peak_unit:
            peak = fmt.fmt_value(exc.peak, peak_unit)
            what += f"; peak of the alarm {_with_unit(peak, peak_unit)}"
        for since, until in _beyond(service.events(alarm_id=exc.alarm_id)):
            when = fmt.fmt_span(since, until, open_text="still beyond the limit", duration=True)
            out.append(Span(kind, since, until if until is not None else end_ns,
                            f"{when}: {what}"))
    return out


def _beyond(events: Iterable[Any]) -> list[tuple[int, int | None]]:
    """(first sample beyond the limit, first sample back) for every raise of one alarm."""
    out: list[tuple[int, int | None]] = []
    for event in events:
        kind, details = str(event.kind), dict(event.details or {})
        if kind == "raised":
            out.append((int(details.get("start_ns", event.ts_ns)), None))
        elif kind in ("cleared", "retired") and out and out[-1][1] is None:
            out[-1] = (out[-1][0], int(details.get("end_ns", event.ts_ns)))
    return out


def _with_unit(text: str, unit: str) -> str:
    return f"{text} {fmt.display_unit(unit)}".rstrip()


def collect(access: AlarmAccess, info: ChannelInfo, gaps: Iterable[Mapping[str, Any]],
            start_ns: int, end_ns: int) -> Marks:
    marks = Marks(recorded_gaps(gaps, start_ns, end_ns))
    for name, read in (("maintenance periods", maintenance_spans),
                       ("excursions", excursion_spans)):
        try:
            marks.spans += read(access, info, start_ns, end_ns)
        except (MonitorError, ValueError, KeyError) as err:
            marks.notes.append(f"{name} not shown: {err}")
    return marks
