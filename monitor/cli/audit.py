"""``audit verify|export|list``: checking and handing over the audit trail.

``verify`` exits 0 when the chain is intact and 1 naming the first entry that
was altered, removed or inserted, or the truncation the head file reveals.
Verifications and exports are themselves audited (who looked, what left the
system), attributed to the operating-system account that ran the command.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import sys
from pathlib import Path
from typing import TextIO

from monitor.audit import Action, AuditTrail, parse_utc_ns, short_utc
from monitor.audit.export import write_csv, write_json
from monitor.audit.trail import DB_NAME, HEAD_NAME, AuditEntry
from monitor.cli.main import add_config_argument
from monitor.errors import MonitorError

EXIT_PROBLEM = 1


def os_actor() -> str:
    """Who ran a CLI command, as the audit trail records it: the OS account."""
    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):
        return "os:unknown"


def data_dir_of(config_path: str) -> Path:
    from monitor.cli.daemon import load_or_exit
    from monitor.config import LoadedConfig

    loaded = load_or_exit(config_path)
    assert isinstance(loaded, LoadedConfig)
    return Path(loaded.config.data_dir)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="verify, export or list the audit trail",
                           description="The append-only, hash-chained audit trail in "
                           "<data_dir>/audit.db.")
    cmds = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    verify = cmds.add_parser("verify", help="recompute the hash chain",
                             description="Recompute every entry's hash and compare the last "
                             "with the published head (audit.head). Exit 0 if intact, 1 naming "
                             "the first entry altered, removed or inserted.")
    add_config_argument(verify)
    verify.add_argument("--no-record", action="store_true",
                        help="do not add an 'audit.verified' entry (e.g. on a copy)")
    verify.set_defaults(func=cmd_verify)

    export = cmds.add_parser("export", help="write entries as CSV or JSON",
                             description="Export the trail (or a filtered part of it). Times "
                             "are ISO 8601; a time without an offset is UTC.")
    add_config_argument(export)
    export.add_argument("--format", choices=["csv", "json"], default="csv")
    export.add_argument("-o", "--output", metavar="FILE", help="default: standard output")
    _filters(export)
    export.set_defaults(func=cmd_export)

    show = cmds.add_parser("list", help="print entries as a table")
    add_config_argument(show)
    show.add_argument("--last", type=int, default=50, metavar="N",
                      help="only the newest N entries (default 50, 0 = all)")
    _filters(show)
    show.set_defaults(func=cmd_list)


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="from_", metavar="TIME", help="entries at or after")
    parser.add_argument("--to", metavar="TIME", help="entries before")
    parser.add_argument("--user")
    parser.add_argument("--action")
    parser.add_argument("--object", metavar="PREFIX", help="objects starting with PREFIX")


def _select(trail: AuditTrail, args: argparse.Namespace) -> list[AuditEntry]:
    return trail.entries(
        from_ns=parse_utc_ns(args.from_) if args.from_ else None,
        to_ns=parse_utc_ns(args.to) if args.to else None,
        user=args.user, action=args.action, object_prefix=args.object,
    )


def cmd_verify(args: argparse.Namespace) -> int:
    data_dir = data_dir_of(args.config)
    db, head = data_dir / DB_NAME, data_dir / HEAD_NAME
    if not db.exists():
        if head.exists():
            print(f"audit trail FAILED: {db} is missing but {head} records published "
                  "entries (the trail was deleted)", file=sys.stderr)
        else:
            print(f"no audit trail at {db}", file=sys.stderr)
        return EXIT_PROBLEM
    try:
        with AuditTrail(data_dir) as trail:
            problem = trail.verify()
            seq, digest = trail.head()
            if not args.no_record:
                trail.record(os_actor(), Action.AUDIT_VERIFIED, f"audit:{db}",
                             new={"result": "ok" if problem is None else "failed",
                                  "problem": None if problem is None else str(problem),
                                  "entries": seq})
    except MonitorError as err:
        print(f"audit trail FAILED: {err}", file=sys.stderr)
        return EXIT_PROBLEM
    if problem is not None:
        print(f"audit trail FAILED verification: {problem}", file=sys.stderr)
        return EXIT_PROBLEM
    print(f"audit trail OK: {seq} entries, head {digest}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    data_dir = data_dir_of(args.config)
    try:
        with AuditTrail(data_dir) as trail:
            entries = _select(trail, args)
            problem = trail.verify()
            head = trail.head()
            with contextlib.ExitStack() as stack:
                out: TextIO = stack.enter_context(
                    open(args.output, "w", encoding="utf-8", newline="")
                ) if args.output else sys.stdout
                if args.format == "csv":
                    write_csv(entries, out)
                else:
                    filters = {k: v for k, v in (("from", args.from_), ("to", args.to),
                               ("user", args.user), ("action", args.action),
                               ("object", args.object)) if v}
                    write_json(entries, out, head=head, problem=problem, exported_by=os_actor(),
                               exported_ns=trail.clock(), filters=filters)
            trail.record(os_actor(), Action.AUDIT_EXPORTED, f"audit:{trail.path}",
                         new={"format": args.format, "entries": len(entries),
                              "output": args.output or "-", "verification":
                              "ok" if problem is None else str(problem)})
    except (MonitorError, OSError) as err:
        print(f"audit export failed: {err}", file=sys.stderr)
        return EXIT_PROBLEM
    if problem is not None:
        print(f"warning: the audit trail does not verify: {problem}", file=sys.stderr)
        return EXIT_PROBLEM
    if args.output:
        print(f"{len(entries)} entries written to {args.output}", file=sys.stderr)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    data_dir = data_dir_of(args.config)
    try:
        with AuditTrail(data_dir) as trail:
            entries = _select(trail, args)
    except MonitorError as err:
        print(f"audit list failed: {err}", file=sys.stderr)
        return EXIT_PROBLEM
    if args.last:
        entries = entries[-args.last:]
    for e in entries:
        change = ""
        if e.old is not None or e.new is not None:
            change = f" {_clip(e.old)} -> {_clip(e.new)}"
        reason = f" reason={e.reason!r}" if e.reason else ""
        print(f"{e.seq:>6} {short_utc(e.ts_ns)} {e.user:<14} {e.action:<26} {e.object}"
              f"{change}{reason}")
    return 0


def _clip(text: str | None, width: int = 60) -> str:
    if text is None:
        return "-"
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 1] + "…"
