"""``outbox status|list-quarantined|list-skipped|requests|resend|cancel``: what sinks lack.

An InfluxDB sink quarantines a point the server refuses as data and, above
its bound, skips the oldest readings it could not send (docs/storage.md).
Both stay in the local history. Once the cause is fixed (a field type
conflict dropped, a retention policy lengthened, the server back), ``resend``
queues them for the daemon's forwarder, which sends them between its live
batches: the command works while the daemon runs, and only the daemon talks
to the sink. Only readings the sink does not have are selected, so nothing
is sent twice (see ``monitor.storage.resend``). ``cancel`` stops a queued or
running request; the daemon notices before its next HTTP request.

Re-sending changes what a GMP data copy holds, so it is attributable: the
user named with ``--user`` enters their password and needs the
``configure`` permission (engineer), and the request is audited with the
reason; so is a cancellation. The daemon audits how each request ended.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from monitor.audit import short_utc
from monitor.cli.main import add_config_argument
from monitor.cli.outbox_resend import EXIT_REFUSED, cancel, resend, selection_window
from monitor.errors import MonitorError

if TYPE_CHECKING:
    from monitor.config import LoadedConfig
    from monitor.storage.resend import ResendQueue


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    box = sub.add_parser("outbox", help="InfluxDB sinks: quarantined and skipped readings, "
                         "resend, cancel",
                         description="Inspect what each InfluxDB sink did not receive and queue "
                         "it again for the running daemon.")
    cmds = box.add_subparsers(dest="outbox_command", metavar="ACTION", required=True)

    def command(name: str, helptext: str) -> argparse.ArgumentParser:
        parser = cmds.add_parser(name, help=helptext, description=helptext)
        add_config_argument(parser)
        return parser

    status = command("status", "per sink: readings waiting, quarantined, skipped, requests")
    status.add_argument("--sink")
    status.add_argument("--format", choices=["table", "json"], default="table")
    status.set_defaults(func=_run(_status))

    quarantined = command("list-quarantined", "points a sink's server refused")
    quarantined.add_argument("--sink")
    _window(quarantined)
    quarantined.add_argument("--all", action="store_true", help="include points re-sent since")
    quarantined.add_argument("--format", choices=["table", "json"], default="table")
    quarantined.set_defaults(func=_run(_list_quarantined))

    skipped = command("list-skipped", "readings skipped at a sink's outbox bound")
    skipped.add_argument("--sink")
    skipped.add_argument("--format", choices=["table", "json"], default="table")
    skipped.set_defaults(func=_run(_list_skipped))

    requests = command("requests", "resend requests and their outcome")
    requests.add_argument("--sink")
    requests.add_argument("--pending", action="store_true")
    requests.add_argument("--format", choices=["table", "json"], default="table")
    requests.set_defaults(func=_run(_requests))

    resend_cmd = command("resend", "queue quarantined or skipped readings for the daemon to send")
    resend_cmd.add_argument("--sink", required=True)
    what = resend_cmd.add_mutually_exclusive_group(required=True)
    what.add_argument("--quarantined", action="store_const", dest="kind", const="quarantined")
    what.add_argument("--skipped", action="store_const", dest="kind", const="skipped")
    _window(resend_cmd)
    resend_cmd.add_argument("--ids",
                            help="reading ids, comma-separated (as list-quarantined shows)")
    _authorisation(resend_cmd, "who asks (needs the configure permission)",
                   "why, e.g. the fix that was made")
    resend_cmd.add_argument("--wait", type=float, default=30.0, metavar="SECONDS",
                            help="wait this long for the daemon to finish (0: just queue)")
    resend_cmd.add_argument("--dry-run", action="store_true", help="count, queue nothing")
    resend_cmd.set_defaults(func=_run(resend))

    cancel_cmd = command("cancel", "cancel a queued or running resend request")
    cancel_cmd.add_argument("request", type=int,
                            help="the request's id (as `outbox requests` shows)")
    _authorisation(cancel_cmd, "who cancels (needs the configure permission)", "why")
    cancel_cmd.add_argument("--wait", type=float, default=30.0, metavar="SECONDS",
                            help="wait this long for the daemon to stop it and audit the "
                            "outcome (0: do not wait)")
    cancel_cmd.set_defaults(func=_run(cancel))


def _authorisation(parser: argparse.ArgumentParser, user: str, reason: str) -> None:
    parser.add_argument("--user", required=True, help=user)
    parser.add_argument("--reason", required=True, help=reason)
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password from one line of standard input")


def _window(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="from_", metavar="TIME",
                        help="reading time from (ISO 8601, UTC unless an offset is given)")
    parser.add_argument("--to", metavar="TIME", help="reading time to (exclusive)")


Action = Callable[["LoadedConfig", "ResendQueue", argparse.Namespace], int]


def _run(action: Action) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from monitor.cli.daemon import load_or_exit
        from monitor.config import LoadedConfig
        from monitor.storage.factory import readings_path
        from monitor.storage.resend import ResendQueue

        loaded = load_or_exit(args.config)
        assert isinstance(loaded, LoadedConfig)
        try:
            sink = getattr(args, "sink", None)
            names = [s.name for s in loaded.config.storage.sinks]
            if sink is not None and sink not in names:
                known = ", ".join(names) or "none configured"
                raise MonitorError(f"no sink {sink!r} in {args.config} (sinks: {known})")
            with ResendQueue(readings_path(loaded.config.data_dir)) as queue:
                return action(loaded, queue, args)
        except MonitorError as err:
            print(f"outbox {args.outbox_command}: {err}", file=sys.stderr)
            return EXIT_REFUSED

    return run


def _when(ts_ns: int | None) -> str:
    return "-" if ts_ns is None else short_utc(ts_ns)


def _emit(args: argparse.Namespace, rows: list[dict[str, Any]], table: Callable[[], None]) -> None:
    if args.format == "json":
        json.dump(rows, sys.stdout, indent=2)
        print()
    else:
        table()


# ---------------------------------------------------------------------------- status
def sink_status(loaded: LoadedConfig, queue: ResendQueue, sink: str) -> dict[str, Any]:
    """One sink's outbox figures as the daemon would report them, read from the file."""
    from monitor.storage.outbox import CursorState, open_reader

    conn = open_reader(queue.path)
    try:
        row = conn.execute("SELECT cursor, done_ranges, updated_ns FROM sink_state "
                           "WHERE sink = ?", (sink,)).fetchone()
        seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'readings'").fetchone()
    except sqlite3.Error as err:
        raise MonitorError(f"{queue.path}: cannot read the outbox: {err}") from err
    finally:
        conn.close()
    last_id = int(seq[0]) if seq else 0
    state = None if row is None else CursorState(
        int(row[0]), tuple((int(a), int(b)) for a, b in json.loads(row[1])))
    quarantined = queue.quarantined(sink, include_resent=True)
    skips = queue.skips(sink)
    return {
        "sink": sink,
        "cursor": None if state is None else state.cursor,
        "waiting": None if state is None else state.pending(last_id),
        "updated": None if row is None else _when(int(row[2]) or None),
        "quarantined": sum(1 for q in quarantined if not q.resent),
        "quarantined_resent": sum(1 for q in quarantined if q.resent),
        "skipped": sum(s.count for s in skips),
        "skipped_to_resend": sum(s.pending for s in skips),
        "requests_pending": len(queue.requests(sink, pending_only=True)),
    }


def _sinks(loaded: LoadedConfig, args: argparse.Namespace) -> list[str]:
    return [args.sink] if args.sink else [s.name for s in loaded.config.storage.sinks]


def _status(loaded: LoadedConfig, queue: ResendQueue, args: argparse.Namespace) -> int:
    rows = [sink_status(loaded, queue, name) for name in _sinks(loaded, args)]

    def table() -> None:
        if not rows:
            print("no InfluxDB sinks configured")
        print(f"{'sink':<16} {'waiting':>9} {'quarantined':>11} {'(re-sent)':>9} "
              f"{'skipped':>9} {'to re-send':>10} {'requests':>8}")
        for r in rows:
            waiting = "never run" if r["waiting"] is None else r["waiting"]
            print(f"{r['sink']:<16} {waiting:>9} {r['quarantined']:>11} "
                  f"{r['quarantined_resent']:>9} {r['skipped']:>9} "
                  f"{r['skipped_to_resend']:>10} {r['requests_pending']:>8}")

    _emit(args, rows, table)
    return 0


# ---------------------------------------------------------------------------- listings
def _list_quarantined(loaded: LoadedConfig, queue: ResendQueue, args: argparse.Namespace) -> int:
    from monitor.storage.resend_model import Kind, Selection

    from_ns, to_ns = selection_window(args)
    points = queue.quarantined(args.sink, include_resent=args.all,
                               selection=Selection(Kind.QUARANTINED, None, from_ns, to_ns))
    rows: list[dict[str, Any]] = [
        {"sink": p.sink, "reading_id": p.reading_id, "time": _when(p.ts_ns),
             "ts_ns": p.ts_ns, "status": p.status, "message": p.message,
             "quarantined": _when(p.at_ns), "resent": p.resent, "line": p.line} for p in points]

    def table() -> None:
        print(f"{'sink':<14} {'reading':>9}  {'reading time (UTC)':<20} {'quarantined':<20} "
              f"{'http':>4}  {'re-sent':<7} message")
        for r in rows:
            print(f"{r['sink']:<14} {r['reading_id']:>9}  {r['time']:<20} "
                  f"{r['quarantined']:<20} {r['status']:>4}  {'yes' if r['resent'] else 'no':<7} "
                  f"{r['message'][:100]}")
        print(f"{len(rows)} point(s)", file=sys.stderr)

    _emit(args, rows, table)
    return 0


def _list_skipped(loaded: LoadedConfig, queue: ResendQueue, args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = [
        {"sink": s.sink, "first_id": s.first_id, "last_id": s.last_id, "count": s.count,
             "from": _when(s.from_ns), "to": _when(s.to_ns), "from_ns": s.from_ns,
             "to_ns": s.to_ns, "reason": s.reason, "skipped_at": _when(s.at_ns),
             "to_resend": s.pending} for s in queue.skips(args.sink)]

    def table() -> None:
        print(f"{'sink':<14} {'ids':<23} {'count':>8} {'to re-send':>10}  "
              f"{'readings from (UTC)':<20} {'to (UTC)':<20} {'skipped at':<20} reason")
        for r in rows:
            ids = f"{r['first_id']}-{r['last_id']}"
            print(f"{r['sink']:<14} {ids:<23} {r['count']:>8} {r['to_resend']:>10}  "
                  f"{r['from']:<20} {r['to']:<20} {r['skipped_at']:<20} {r['reason']}")

    _emit(args, rows, table)
    return 0


def _requests(loaded: LoadedConfig, queue: ResendQueue, args: argparse.Namespace) -> int:
    items = queue.requests(args.sink, pending_only=args.pending)
    rows = [r.public() for r in items]

    def table() -> None:
        print(f"{'id':>5} {'sink':<14} {'kind':<11} {'requested (UTC)':<20} {'by':<12} "
              f"{'status':<9} {'selected':>8} {'sent':>8} {'rejected':>8}  reason / last error")
        for r in items:
            note = r.reason + (f" / {r.last_error}" if r.last_error else "")
            if r.cancelled_by is not None:
                note += f" / cancelled by {r.cancelled_by}: {r.cancel_reason}"
            print(f"{r.id:>5} {r.sink:<14} {r.selection.kind.value:<11} "
                  f"{_when(r.requested_ns):<20} {r.requested_by:<12} {r.status.value:<9} "
                  f"{r.selected:>8} {r.sent:>8} {r.rejected:>8}  {note[:120]}")

    _emit(args, rows, table)
    return 0
