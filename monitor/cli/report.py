"""``report excursions|period``: QA reports as HTML, CSV, JSON or PDF files.

``report excursions`` lists every excursion in the period with its trend
plot, review and signatures; ``report period`` adds each channel's figures
(min/max/mean, time in alert and action, gaps, coverage). A period with no
recorded data is refused with exit status 1 rather than reported as clean.
The generation is audited under the user given with ``--user`` (who must hold
the QA role's report permission and enters their password), or else the
operating-system account.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monitor.audit import parse_utc_ns, short_utc
from monitor.cli.audit import os_actor
from monitor.cli.excursions import login, open_context
from monitor.cli.main import add_config_argument
from monitor.cli.users import PasswordReader
from monitor.errors import MonitorError
from monitor.model import utc_now_ns
from monitor.reports.generate import FORMATS, write_report
from monitor.reports.model import EmptyReport
from monitor.users.model import require
from monitor.users.roles import Permission

EXIT_REFUSED = 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser("report", help="QA reports of excursions or of a period",
                            description="Write a report file; its generation is audited.")
    kinds = report.add_subparsers(dest="report_kind", metavar="KIND", required=True)
    for kind, helptext in (
        ("excursions", "every excursion in the period: plot, review, signatures"),
        ("period", "per location and channel: min/max/mean, time in alert/action, gaps; "
                   "with all excursions"),
    ):
        parser = kinds.add_parser(kind, help=helptext, description=helptext)
        add_config_argument(parser)
        parser.add_argument("--from", dest="from_", required=True, metavar="TIME",
                            help="start, ISO 8601 (a time without offset is UTC)")
        parser.add_argument("--to", required=True, metavar="TIME", help="end (exclusive)")
        parser.add_argument("--location")
        parser.add_argument("--format", choices=FORMATS, default="html")
        parser.add_argument("-o", "--output", metavar="FILE",
                            help="default: report-KIND-SITE-FROM-TO.FORMAT here")
        parser.add_argument("--user", help="generate as this user (password asked)")
        parser.add_argument("--password-stdin", action="store_true")
        parser.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    try:
        from_ns, to_ns = parse_utc_ns(args.from_), parse_utc_ns(args.to)
        with open_context(args.config) as ctx:
            generated_by = os_actor()
            if args.user:
                user = login(ctx, args.user, PasswordReader(args.password_stdin))
                require(user, Permission.GENERATE_REPORT)
                generated_by = f"{user.full_name} ({user.username})"
            output = Path(args.output) if args.output else Path(
                f"report-{args.report_kind}-{ctx.loaded.config.site.id}-"
                f"{_stamp(from_ns)}-{_stamp(to_ns)}.{args.format}")
            written = write_report(
                ctx.report_sources(), args.report_kind, args.format, from_ns=from_ns,
                to_ns=to_ns, location=args.location, generated_by=generated_by,
                now_ns=utc_now_ns(), output=output)
    except EmptyReport as err:
        print(f"report refused: {err}", file=sys.stderr)
        return EXIT_REFUSED
    except MonitorError as err:
        print(f"report failed: {err}", file=sys.stderr)
        return EXIT_REFUSED
    r = written.report
    print(f"{written.path}: {len(r.excursions)} excursion(s), {r.readings} readings, "
          f"sha256 {written.sha256}")
    if not r.header.integrity_ok:
        for name, state in r.header.integrity.items():
            if state != "ok":
                print(f"warning: {name} does not verify: {state}", file=sys.stderr)
        return EXIT_REFUSED
    return 0


def _stamp(ts_ns: int) -> str:
    return short_utc(ts_ns).replace("-", "").replace(":", "").replace(" ", "T")
