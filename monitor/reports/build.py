"""Gathering a report's content: excursions with their reviews and plots, channel figures.

Everything a report states is read from the records themselves at the time of
generation: excursions from the alarm event log, reviews and signatures from
the review log (each signature verified again), readings and gaps from the
embedded history, configuration changes from the audit trail. Each chained
record is verified first and the result printed in the header, so a report
never vouches for records that no longer verify.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from monitor import __version__
from monitor.audit import Action, AuditTrail, short_utc
from monitor.errors import MonitorError
from monitor.integrity import ChainProblem
from monitor.qa.calibration import calibration_states
from monitor.qa.excursions import Excursion
from monitor.qa.workflow import ExcursionReview, ReviewState
from monitor.signatures import Signature

from .limits import Limits, channel_limits
from .model import EmptyReport, ExcursionItem, Report, ReportHeader
from .stats import NS, ChannelSummary, GapLike, GapSpan, SampleLike, Summariser

if TYPE_CHECKING:
    from monitor.config import LoadedConfig
    from monitor.storage.history import History

CHUNK_NS = 6 * 3600 * NS  # readings are read in chunks of this length


@dataclass
class ReportSources:
    loaded: LoadedConfig
    history: History | None  # None when no readings database exists yet
    review: ExcursionReview
    audit: AuditTrail
    #: chained records verified before the report is made: name -> verify()
    integrity: Mapping[str, Callable[[], ChainProblem | None]] = field(default_factory=dict)


def build_report(sources: ReportSources, kind: str, from_ns: int, to_ns: int, *,
                 location: str | None, generated_by: str, now_ns: int,
                 plots: bool = True) -> Report:
    """A report of ``kind`` (``excursions`` or ``period``) for ``[from_ns, to_ns)``."""
    loaded = sources.loaded
    if kind not in ("excursions", "period"):
        raise MonitorError(f"unknown report kind {kind!r}")
    if to_ns <= from_ns:
        raise MonitorError("the end of the report period must be after its start")
    if from_ns >= now_ns:
        raise MonitorError("the report period starts in the future")
    if location is not None and location not in loaded.locations:
        raise MonitorError(f"unknown location {location!r} (known: "
                           f"{', '.join(sorted(loaded.locations))})")
    report = Report(_header(sources, kind, from_ns, min(to_ns, now_ns), location=location,
                            generated_by=generated_by, now_ns=now_ns))
    if to_ns > now_ns:
        report.notes.append(f"The requested period ends in the future "
                            f"({short_utc(to_ns)}); it is reported up to the time of "
                            "generation.")
        to_ns = now_ns
    report.readings = _count_readings(sources.history, from_ns, to_ns, location)
    listing = sources.review.listing(from_ns, to_ns, location=location)
    where = f" at {location}" if location else ""
    if report.readings == 0 and not listing:
        raise EmptyReport(
            f"no readings and no excursions are recorded{where} between {short_utc(from_ns)} "
            f"and {short_utc(to_ns)}: no report was made (an empty report could be read as a "
            "period without excursions)")
    if report.readings == 0:
        report.notes.append(f"No readings are stored{where} for this period (older than the "
                            "embedded store's retention, or never recorded); the excursions "
                            "below come from the alarm event log.")
    limits = channel_limits(loaded) if kind == "period" else {}
    if sources.history is not None:
        report.daemon_gaps = [
            GapSpan(max(g.start_ns, from_ns), min(g.end_ns or to_ns, to_ns), g.cause, g.detail)
            for g in sources.history.gaps(from_ns, to_ns) if g.scope == "daemon"]
    for exc, state in listing:
        report.excursions.append(_excursion_item(sources, exc, state, now_ns, plots))
    if kind == "period":
        for cid in _channels(sources, location):
            report.channels.append(_channel(sources, cid, from_ns, to_ns, limits.get(cid, {})))
        report.channels.sort(key=lambda c: (c.location, c.channel))
        report.notes.extend(_marks_notes(report.channels))
        devices = {d.name for d in loaded.config.devices
                   if location is None or d.location == location}
        report.calibration = [s.to_json() for s in calibration_states(loaded, to_ns)
                              if s.device in devices]
        overdue = [s["device"] for s in report.calibration if s["status"] == "overdue"]
        if overdue:
            report.notes.append("Calibration overdue at the end of the period: "
                                + ", ".join(map(str, overdue))
                                + " (their readings are kept and flagged).")
    return report


def _marks_notes(channels: Sequence[ChannelSummary]) -> list[str]:
    """Say at the top when figures rest on readings under maintenance or out of calibration."""
    notes = []
    maintained = [c.channel for c in channels if c.maintenance_readings]
    if maintained:
        notes.append(f"{len(maintained)} channel(s) were in maintenance mode during the "
                     f"period ({', '.join(maintained)}): their readings then have quality "
                     "maintenance and are left out of min/max/mean and the times in alert and "
                     "action; see time in maintenance and the maintenance periods below.")
    overdue = [c for c in channels if c.calibration.readings]
    if overdue:
        total = sum(c.calibration.readings for c in overdue)
        notes.append(f"{total} good reading(s) of {len(overdue)} channel(s) were taken by "
                     "devices whose calibration was overdue ("
                     + ", ".join(c.channel for c in overdue) + "): they are kept and count in "
                     "the figures and for the alarms, flagged; see the notes under the channel "
                     "table.")
    return notes


def _header(sources: ReportSources, kind: str, from_ns: int, to_ns: int, *,
            location: str | None, generated_by: str, now_ns: int) -> ReportHeader:
    loaded = sources.loaded
    header = ReportHeader(
        kind=kind, site_id=loaded.config.site.id, site_name=loaded.config.site.name,
        from_ns=from_ns, to_ns=to_ns, location=location, generated_by=generated_by,
        generated_ns=now_ns, config_path=str(loaded.path), config_sha256=loaded.sha256,
        software=f"cleanroom-monitor {__version__}",
    )
    for name, verify in sources.integrity.items():
        problem = verify()
        header.integrity[name] = "ok" if problem is None else str(problem)
    for action in (Action.CONFIG_LOADED, Action.CONFIG_RELOADED):
        for entry in sources.audit.entries(action=action, from_ns=from_ns, to_ns=to_ns):
            value = entry.new_value if isinstance(entry.new_value, dict) else {}
            header.config_changes.append({"ts_ns": entry.ts_ns, "action": entry.action,
                                          "sha256": value.get("sha256"), "user": entry.user,
                                          "audit_seq": entry.seq})
    header.config_changes.sort(key=lambda c: c["ts_ns"])
    return header


def _count_readings(history: History | None, from_ns: int, to_ns: int,
                    location: str | None) -> int:
    if history is None:
        return 0
    every = (to_ns - from_ns) / NS
    result = history.query(location=location, from_ns=from_ns, to_ns=to_ns, every_s=every)
    return sum(b.count for b in result.buckets)


def _interval(sources: ReportSources, channel: str) -> float:
    info = sources.loaded.channels.get(channel)
    return info.poll_interval if info is not None else 1.0


def _unit(sources: ReportSources, channel: str) -> str:
    info = sources.loaded.channels.get(channel)
    if info is not None:
        return info.spec.unit
    if sources.history is not None:
        for series in sources.history.series(channel):
            return series.unit
    return ""


def _excursion_item(sources: ReportSources, exc: Excursion, state: ReviewState, now_ns: int,
                    plots: bool) -> ExcursionItem:
    unit = _unit(sources, exc.channel)
    window = _plot_window(exc.start_ns, exc.end_ns, now_ns)
    samples: Sequence[SampleLike] = []
    figures = ChannelSummary(exc.channel, exc.location, unit, "")
    hold = int(_interval(sources, exc.channel) * 5 * NS)
    if sources.history is not None:
        result = sources.history.query(exc.channel, from_ns=window[0], to_ns=window[1])
        samples = list(result.samples)
        summary = Summariser(figures, *window, interval_s=_interval(sources, exc.channel),
                             limits={})
        summary.feed(result.samples)
        hold = summary.hold or hold
        summary.finish(result.gaps)
    item = ExcursionItem(exc, state, unit, sources.review.verify_closure(exc, state),
                         readings=len(samples),
                         ack_checks=[_check_ack(sources, a.signature)
                                     for a in exc.acknowledgements],
                         maintenance=figures.maintenance, calibration=figures.calibration)
    if plots:
        from .plot import excursion_svg  # matplotlib: only when a plot is drawn

        limits = Limits.from_mapping(exc.limits) if exc.limits else _limit_only(exc)
        title = (f"Excursion {exc.id}: {exc.location} {exc.channel} "
                 f"({exc.rule.replace('_', ' ')})")
        item.plot_svg = excursion_svg(
            samples, title=title, unit=unit,
            window=window, excursion=(exc.start_ns, exc.end_ns), level=exc.level,
            limits=limits, gaps=figures.gaps, maintenance=figures.maintenance, hold_ns=hold,
            peak=(exc.peak_ns, exc.peak) if exc.peak is not None and exc.peak_ns else None,
            id_salt=f"excursion-{exc.id}")
    return item


def _plot_window(start_ns: int, end_ns: int | None, now_ns: int) -> tuple[int, int]:
    """The time range a plot shows: the excursion with a margin either side."""
    end = end_ns if end_ns is not None else now_ns
    pad = min(max(60 * NS, (end - start_ns) // 2), 6 * 3600 * NS)
    return start_ns - pad, min(end + pad, max(now_ns, end))


def _check_ack(sources: ReportSources, signature: Mapping[str, object] | None) -> str | None:
    """An operator's acknowledgement signature: its seal and its audit entry must hold."""
    if not signature:
        return None
    try:
        sig = Signature.from_dict(signature)
    except MonitorError as err:
        return str(err)
    problem = sources.review.signer.verify(sig, record_type=sig.record_type,
                                           record_id=sig.record_id,
                                           record_hash=sig.record_hash)
    return problem or "ok"


def _limit_only(exc: Excursion) -> Limits:
    """Without the full set of limits, draw at least the one that was exceeded."""
    return Limits.from_mapping({exc.rule: exc.limit})


def _channels(sources: ReportSources, location: str | None) -> list[str]:
    configured = [cid for cid, info in sources.loaded.channels.items()
                  if location is None or info.location == location]
    stored: list[str] = []
    if sources.history is not None:
        stored = [s.channel for s in sources.history.series(location=location)]
    return sorted(set(configured) | set(stored))


def _channel(sources: ReportSources, cid: str, from_ns: int, to_ns: int,
             limits: Mapping[str, Limits]) -> ChannelSummary:
    info = sources.loaded.channels.get(cid)
    location = info.location if info is not None else ""
    quantity = info.spec.quantity if info is not None else "(no longer configured)"
    head = ChannelSummary(cid, location, _unit(sources, cid), quantity)
    summariser = Summariser(head, from_ns, to_ns, interval_s=_interval(sources, cid),
                            limits=limits)
    recorded: Sequence[GapLike] = []
    if sources.history is not None:
        if not location:
            series = sources.history.series(cid)
            head.location = series[0].location if series else ""
        start = from_ns
        while start < to_ns:
            end = min(start + CHUNK_NS, to_ns)
            result = sources.history.query(cid, from_ns=start, to_ns=end)
            summariser.feed(result.samples)
            start = end
        recorded = list(sources.history.gaps(from_ns, to_ns, channels=[cid],
                                             locations=[head.location] if head.location
                                             else None))
    return summariser.finish(recorded)
