"""``query``: read the embedded history back, raw or downsampled, as a table or CSV.

Gaps (daemon stopped, device offline) are printed with the data, so that a
reader never mistakes a hole for a steady value.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from collections.abc import Sequence
from typing import TextIO

from monitor.cli.main import add_config_argument
from monitor.config.durations import parse_duration
from monitor.errors import StoreError
from monitor.model import utc_now_ns
from monitor.storage.gaps import Gap
from monitor.storage.history import History, QueryResult

EXIT_STORE = 1
EXIT_USAGE = 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "query", help="print or export stored readings",
        description="Read readings from the embedded history in the config's data_dir. "
        "Times are UTC (ISO 8601; a time without zone is taken as UTC). With --every the "
        "readings are downsampled to min/max/mean of good values per bucket. Gaps in the "
        "record (daemon stopped, device offline) are listed with their cause.",
    )
    add_config_argument(parser)
    parser.add_argument("--location", "-l", help="location name")
    parser.add_argument("--channel", help="channel id (device/channel) or channel name")
    parser.add_argument("--from", dest="start", metavar="ISO",
                        help="start, inclusive (default: one hour before --to)")
    parser.add_argument("--to", dest="end", metavar="ISO", help="end, exclusive (default: now)")
    parser.add_argument("--every", metavar="DURATION",
                        help="downsample to buckets of this length, e.g. 1m, 15m, 1h")
    parser.add_argument("--format", choices=["table", "csv"], default="table")
    parser.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    parser.set_defaults(func=cmd_query)


def parse_time(text: str) -> int:
    """UTC ns from ISO 8601; a naive time is UTC (records are UTC, see the README)."""
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError as err:
        raise ValueError(f"not an ISO 8601 time: {text!r}") from err
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    delta = when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def format_time(ns: int | None) -> str:
    if ns is None:
        return ""
    when = dt.datetime.fromtimestamp(ns // 10**9, dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{(ns % 10**9) // 10**6:03d}Z"


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def cmd_query(args: argparse.Namespace) -> int:
    from monitor.cli.daemon import load_or_exit
    from monitor.config import LoadedConfig

    if not args.location and not args.channel:
        print("query: give --location and/or --channel", file=sys.stderr)
        return EXIT_USAGE
    try:
        to_ns = parse_time(args.end) if args.end else utc_now_ns()
        from_ns = parse_time(args.start) if args.start else to_ns - 3600 * 10**9
        every = parse_duration(args.every) if args.every else None
    except ValueError as err:
        print(f"query: {err}", file=sys.stderr)
        return EXIT_USAGE
    if every is not None and every <= 0:
        print("query: --every must be longer than zero", file=sys.stderr)
        return EXIT_USAGE
    loaded = load_or_exit(args.config)
    assert isinstance(loaded, LoadedConfig)
    try:
        with History(loaded.config.data_dir) as history:
            result = history.query(args.channel, args.location, from_ns, to_ns, every)
    except StoreError as err:
        print(f"query: {err}", file=sys.stderr)
        return EXIT_STORE
    if not result.series:
        what = " ".join(f"{k} {v!r}" for k, v in
                        (("location", args.location), ("channel", args.channel)) if v)
        print(f"query: no stored channel matches {what}", file=sys.stderr)
        return EXIT_STORE
    out: TextIO
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            _write(result, args.format, out)
    else:
        _write(result, args.format, sys.stdout)
    return 0


def _gap_text(gap: Gap) -> str:
    end = format_time(gap.end_ns) if gap.end_ns is not None else "(still open)"
    who = "all channels" if gap.scope == "daemon" else gap.subject
    return f"{gap.cause} until {end} ({who}{'; ' + gap.detail if gap.detail else ''})"


def _rows(result: QueryResult) -> tuple[list[str], list[list[str]]]:
    """Header and rows, data and gaps merged in time order (a gap row has quality 'gap')."""
    keyed: list[tuple[int, int, list[str]]] = []
    if result.every_s is None:
        header = ["time_utc", "channel", "location", "value", "unit", "raw", "quality",
                  "state", "device_time_utc", "detail"]
        for s in result.samples:
            keyed.append((s.ts_ns, 0, [
                format_time(s.ts_ns), s.channel, s.location, _num(s.value), s.unit, _num(s.raw),
                s.quality, s.state or "", format_time(s.device_ts_ns), s.detail or "",
            ]))
        for g in result.gaps:
            keyed.append((g.start_ns, 1, [
                format_time(g.start_ns), g.subject if g.scope != "daemon" else "*",
                g.location or "*", "", "", "", "gap", "", "", _gap_text(g),
            ]))
    else:
        header = ["time_utc", "channel", "location", "count", "good", "min", "max", "mean",
                  "unit", "detail"]
        for b in result.buckets:
            keyed.append((b.start_ns, 0, [
                format_time(b.start_ns), b.channel, b.location, str(b.count), str(b.good),
                _num(b.min), _num(b.max), _num(b.mean), b.unit, "",
            ]))
        for g in result.gaps:
            keyed.append((g.start_ns, 1, [
                format_time(g.start_ns), g.subject if g.scope != "daemon" else "*",
                g.location or "*", "0", "0", "", "", "", "", "gap: " + _gap_text(g),
            ]))
    keyed.sort(key=lambda k: (k[0], k[1]))
    return header, [k[2] for k in keyed]


def _write(result: QueryResult, fmt: str, out: TextIO) -> None:
    header, rows = _rows(result)
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return
    _table(header, rows, out)
    span = f"{format_time(result.from_ns)} .. {format_time(result.to_ns)}"
    kind = "readings" if result.every_s is None else "buckets"
    count = len(result.samples) if result.every_s is None else len(result.buckets)
    out.write(f"\n{count} {kind}, {len(result.gaps)} gap(s), {span} (UTC)\n")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO) -> None:
    keep = [i for i in range(len(header)) if i == 0 or any(r[i] for r in rows)]
    cols = [header[i] for i in keep]
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for c, i in zip(cols, keep, strict=True)]
    out.write("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip() + "\n")
    for r in rows:
        cells = [r[i] for i in keep]
        out.write("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip() + "\n")
