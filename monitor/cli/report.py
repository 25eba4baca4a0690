"""``report excursions|period|approve|verify``: QA reports as HTML, CSV, JSON or PDF files.

``report excursions`` lists every excursion in the period with its trend
plot, review and signatures; ``report period`` adds each channel's figures
(min/max/mean, time in alert and action, gaps, coverage). A period with no
recorded data is refused with exit status 1 rather than reported as clean.
The generation is audited under the user given with ``--user`` (who must hold
the QA role's report permission and enters their password), or else the
operating-system account. ``approve`` signs a generated file; ``verify`` checks a
file against the audit trail and its signatures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monitor.audit import parse_utc_ns, short_utc
from monitor.cli.audit import os_actor
from monitor.cli.excursions import CLI_SOURCE, login, open_context
from monitor.cli.main import add_config_argument
from monitor.cli.users import PasswordReader
from monitor.errors import MonitorError
from monitor.model import utc_now_ns
from monitor.reports import FORMATS
from monitor.signatures import Meaning
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

    approve = kinds.add_parser("approve", help="sign a generated report file (QA)",
                               description="Sign a report file with an electronic signature "
                               "bound to its SHA-256; kept in FILE.signatures.json and the "
                               "audit trail.")
    add_config_argument(approve)
    approve.add_argument("file")
    approve.add_argument("--user", required=True)
    approve.add_argument("--meaning", choices=[Meaning.APPROVED.value, Meaning.REVIEWED.value],
                         default=Meaning.APPROVED.value)
    approve.add_argument("--comment")
    approve.add_argument("--password-stdin", action="store_true")
    approve.set_defaults(func=cmd_approve)

    verify = kinds.add_parser("verify", help="check a report file and its signatures",
                              description="Exit 0 if the file is a report this site generated "
                              "(audit entry found) and every signature on it verifies.")
    add_config_argument(verify)
    verify.add_argument("file")
    verify.set_defaults(func=cmd_verify)


def cmd_report(args: argparse.Namespace) -> int:
    # here, not at the top: every command's start-up would pay for the report machinery
    from monitor.reports.generate import write_report
    from monitor.reports.model import EmptyReport

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


def cmd_approve(args: argparse.Namespace) -> int:
    from monitor.reports.approval import approve, file_sha256

    path = Path(args.file)
    try:
        with open_context(args.config) as ctx:
            digest = file_sha256(path)
            print(f"You are signing {path} (sha256 {digest}) as {args.user} with the meaning "
                  f"'{args.meaning}'. Your password is your signature.", file=sys.stderr)
            password = PasswordReader(args.password_stdin).read(f"Password for {args.user}")
            sig = approve(ctx.signer, path, args.user, password, meaning=args.meaning,
                          comment=args.comment, source=CLI_SOURCE)
    except MonitorError as err:
        print(f"report approve: {err}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"signed: {sig.manifestation()}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from monitor.reports.approval import check_report

    path = Path(args.file)
    try:
        with open_context(args.config) as ctx:
            check = check_report(ctx.signer, path)
    except MonitorError as err:
        print(f"report verify: {err}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"{path}: sha256 {check.sha256}")
    if check.generated is None:
        print("NOT FOUND in the audit trail: this file is not a report generated here "
              "(or it was changed after generation)")
    else:
        e = check.generated
        print(f"generated {short_utc(e.ts_ns)} by {e.user} (audit entry {e.seq})")
    for sig, problem in check.signatures:
        state = "verified" if problem is None else f"NOT VALID: {problem}"
        print(f"signature {sig.manifestation()}: {state}")
    if not check.signatures:
        print("no signatures")
    return 0 if check.ok else EXIT_REFUSED


def _stamp(ts_ns: int) -> str:
    return short_utc(ts_ns).replace("-", "").replace(":", "").replace(" ", "T")
