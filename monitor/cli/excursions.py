"""``excursions list|show|review|close``: QA's review of excursions from the command line.

Reviewing and closing are attributable acts: the user named with ``--user``
enters their password (a prompt, or one line of standard input with
``--password-stdin``). Closing is an electronic signature: the command shows
what is being signed and with which meaning before asking for the password.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from monitor.audit import parse_utc_ns, short_utc
from monitor.cli.main import add_config_argument
from monitor.cli.users import PasswordReader
from monitor.errors import MonitorError
from monitor.model import utc_now_ns
from monitor.qa.workflow import Impact, ReviewState, RootCause, Status
from monitor.signatures import Meaning
from monitor.users.model import User
from monitor.users.roles import Permission

if TYPE_CHECKING:  # opened by the commands only: registering them stays cheap
    from monitor.qa.context import QAContext
    from monitor.qa.excursions import Excursion

EXIT_REFUSED = 1
DEFAULT_DAYS = 30
CLI_SOURCE = "cli"


@contextmanager
def open_context(config_path: str) -> Iterator[QAContext]:
    from monitor.cli.daemon import load_or_exit
    from monitor.config import LoadedConfig
    from monitor.qa.context import open_qa

    loaded = load_or_exit(config_path)
    assert isinstance(loaded, LoadedConfig)
    with open_qa(loaded) as ctx:
        yield ctx


def login(ctx: QAContext, username: str, reader: PasswordReader) -> User:
    """Authenticate a CLI user (audited as a login from 'cli')."""
    password = reader.read(f"Password for {username}")
    return ctx.users.authenticate(username, password, source=CLI_SOURCE)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    exc = sub.add_parser("excursions", help="list, show, review and close excursions",
                         description="QA review of excursions: open -> under_review -> closed "
                         "(closing needs a QA electronic signature).")
    cmds = exc.add_subparsers(dest="excursions_command", metavar="ACTION", required=True)

    listing = cmds.add_parser("list", help="excursions in a period with their review status")
    add_config_argument(listing)
    listing.add_argument("--from", dest="from_", metavar="TIME",
                         help=f"default: {DEFAULT_DAYS} days ago (ISO 8601, UTC)")
    listing.add_argument("--to", metavar="TIME", help="default: now")
    listing.add_argument("--location")
    listing.add_argument("--status", choices=[s.value for s in Status])
    listing.set_defaults(func=_run(_list))

    show = cmds.add_parser("show", help="one excursion with its review and signatures")
    add_config_argument(show)
    show.add_argument("id")
    show.set_defaults(func=_run(_show))

    review = cmds.add_parser("review", help="start or add to a review (QA), or comment")
    add_config_argument(review)
    review.add_argument("id")
    review.add_argument("--user", required=True)
    review.add_argument("--comment")
    review.add_argument("--root-cause", choices=[c.value for c in RootCause])
    review.add_argument("--root-cause-detail")
    review.add_argument("--impact", choices=[i.value for i in Impact])
    review.add_argument("--impact-assessment")
    review.add_argument("--deviation", help="deviation record reference")
    review.add_argument("--capa", help="CAPA reference")
    review.add_argument("--password-stdin", action="store_true")
    review.set_defaults(func=_run(_review))

    close = cmds.add_parser("close", help="close a review with a QA electronic signature")
    add_config_argument(close)
    close.add_argument("id")
    close.add_argument("--user", required=True)
    close.add_argument("--meaning", choices=[Meaning.REVIEWED.value, Meaning.APPROVED.value],
                       default=Meaning.REVIEWED.value)
    close.add_argument("--comment")
    close.add_argument("--password-stdin", action="store_true")
    close.set_defaults(func=_run(_close))


Action = Callable[["QAContext", argparse.Namespace], int]


def _run(action: Action) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            with open_context(args.config) as ctx:
                return action(ctx, args)
        except MonitorError as err:
            print(f"excursions {args.excursions_command}: {err}", file=sys.stderr)
            return EXIT_REFUSED

    return run


def _list(ctx: QAContext, args: argparse.Namespace) -> int:
    now = utc_now_ns()
    to_ns = parse_utc_ns(args.to) if args.to else now
    from_ns = parse_utc_ns(args.from_) if args.from_ else to_ns - DEFAULT_DAYS * 86400 * 10**9
    for note in ctx.notes:
        print(f"note: {note}", file=sys.stderr)
    rows = ctx.review.listing(from_ns, to_ns, location=args.location,
                              status=Status(args.status) if args.status else None)
    print(f"{'id':>6}  {'start (UTC)':<20} {'duration':>9}  {'level':<6} {'location':<12} "
          f"{'channel':<16} {'peak':>12} {'limit':>12}  review")
    for exc, state in rows:
        duration = exc.duration_s()
        print(f"{exc.id:>6}  {short_utc(exc.start_ns):<20} "
              f"{'ongoing' if duration is None else f'{duration:.0f} s':>9}  {exc.level:<6} "
              f"{exc.location:<12} {exc.channel:<16} {_g(exc.peak):>12} {_g(exc.limit):>12}  "
              f"{state.status.value}")
    print(f"{len(rows)} excursion(s) from {short_utc(from_ns)} to {short_utc(to_ns)}",
          file=sys.stderr)
    return 0


def _g(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _show(ctx: QAContext, args: argparse.Namespace) -> int:
    exc, state = ctx.review.get(args.id)
    print(describe(exc))
    for ack in exc.acknowledgements:
        signed = ""
        if ack.signature:
            signed = (f" [signed {ack.signature.get('printed_name', ack.user)}, "
                      f"{ack.signature.get('meaning', '')}]")
        print(f"acknowledged  {short_utc(ack.ts_ns)} by {ack.user}: {ack.reason or ''}{signed}")
    for note in exc.notes:
        print(f"note          {note}")
    print(f"QA review     {state.status.value}")
    for key, value in state.assessment.items():
        print(f"  {key.replace('_', ' '):<18} {value}")
    for comment in state.comments:
        print(f"  comment {short_utc(comment['ts_ns'])} {comment['user']}: {comment['text']}")
    if state.signature is not None:
        problem = ctx.review.verify_closure(exc, state)
        print(f"closed        {state.signature.manifestation()}")
        print("signature     " + ("verified" if problem is None else f"NOT VALID: {problem}"))
        if problem is not None:
            return EXIT_REFUSED
    return 0


def describe(exc: Excursion) -> str:
    duration = exc.duration_s()
    return "\n".join([
        f"excursion     {exc.id} ({exc.level}, {exc.rule.replace('_', ' ')})",
        f"where         {exc.location} {exc.channel}",
        f"window        {short_utc(exc.start_ns)} to "
        f"{short_utc(exc.end_ns) if exc.end_ns else 'ongoing'}"
        + (f" ({duration:.0f} s)" if duration is not None else ""),
        f"peak          {_g(exc.peak)} at {short_utc(exc.peak_ns) if exc.peak_ns else '-'} "
        f"(limit {_g(exc.limit)})",
        f"alarm state   {exc.alarm_state}",
    ])


def _review(ctx: QAContext, args: argparse.Namespace) -> int:
    user = login(ctx, args.user, PasswordReader(args.password_stdin))
    fields = {
        "root_cause": args.root_cause, "root_cause_detail": args.root_cause_detail,
        "impact": args.impact, "impact_assessment": args.impact_assessment,
        "deviation": args.deviation, "capa": args.capa,
    }
    if not user.has(Permission.REVIEW_EXCURSION) and not any(fields.values()) and args.comment:
        state = ctx.review.comment(user, args.id, args.comment)
    else:
        state = ctx.review.review(user, args.id, comment=args.comment, **fields)
    print(f"excursion {args.id}: {state.status.value}")
    return 0


def _close(ctx: QAContext, args: argparse.Namespace) -> int:
    exc, state = ctx.review.get(args.id)
    print(describe(exc))
    _print_review(state)
    print(f"\nYou are signing the review of excursion {exc.id} as {args.user} with the meaning "
          f"'{args.meaning}'. Your password is your signature.", file=sys.stderr)
    password = PasswordReader(args.password_stdin).read(f"Password for {args.user}")
    closed = ctx.review.close(args.user, password, args.id, meaning=args.meaning,
                              comment=args.comment, source=CLI_SOURCE)
    assert closed.signature is not None
    print(f"closed: {closed.signature.manifestation()}")
    return 0


def _print_review(state: ReviewState) -> None:
    for key, value in state.assessment.items():
        print(f"  {key.replace('_', ' '):<18} {value}")
