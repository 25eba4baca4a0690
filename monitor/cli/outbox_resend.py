"""``outbox resend`` and ``outbox cancel``: queue readings for the daemon, or stop a request.

Both change what a GMP data copy holds, so both are attributable: the user
named with ``--user`` enters their password and needs the ``configure``
permission (engineer), and the request or the cancellation is audited with
the reason. The daemon carries a request out and audits how it ended
(``monitor.storage.resend_audit``); ``--wait`` waits for that entry.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.audit import parse_utc_ns
from monitor.cli.users import PasswordReader
from monitor.errors import MonitorError
from monitor.model import utc_now_ns

if TYPE_CHECKING:
    from monitor.audit import AuditTrail
    from monitor.config import LoadedConfig
    from monitor.storage.resend import ResendQueue
    from monitor.storage.resend_model import Request, Selection

EXIT_REFUSED = 1
CLI_SOURCE = "cli"
RESEND_REQUESTED = "outbox.resend_requested"
CANCEL_REQUESTED = "outbox.resend_cancel_requested"


def selection_window(args: argparse.Namespace) -> tuple[int | None, int | None]:
    from_ns = parse_utc_ns(args.from_) if args.from_ else None
    to_ns = parse_utc_ns(args.to) if args.to else None
    if from_ns is not None and to_ns is not None and to_ns <= from_ns:
        raise MonitorError("--to must be after --from")
    return from_ns, to_ns


# ---------------------------------------------------------------------------- resend
def _parse_ids(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        ids = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError as err:
        raise MonitorError(f"--ids: {text!r} is not a comma-separated list of ids") from err
    if not ids:
        raise MonitorError("--ids: no id given")
    return ids


def resend(loaded: LoadedConfig, queue: ResendQueue, args: argparse.Namespace) -> int:
    from monitor.storage.resend_model import Kind, Selection

    from_ns, to_ns = selection_window(args)
    selection = Selection(Kind(args.kind), _parse_ids(args.ids), from_ns, to_ns)
    count = queue.count_pending(args.sink, selection)
    _check_ids(queue, args.sink, selection)
    print(f"{count} {selection.kind.value} reading(s) of sink {args.sink} not yet re-sent "
          "match", file=sys.stderr)
    if args.dry_run:
        return 0
    if count == 0:
        raise MonitorError("nothing to re-send (already re-sent, or none match)")
    request = _queue_request(loaded, queue, args, selection)
    print(f"resend request {request.id} queued for sink {args.sink} ({count} readings)")
    if args.wait <= 0:
        return 0
    return _wait(queue, request.id, args.wait)


def _check_ids(queue: ResendQueue, sink: str, selection: Selection) -> None:
    """Ids that are not pending for this sink are refused: a typo must not pass silently."""
    from monitor.storage.resend_model import Kind, Selection

    if selection.ids is None:
        return
    found: set[int] = set()
    for rid in selection.ids:
        one = Selection(selection.kind, (rid,), selection.from_ns, selection.to_ns)
        if (selection.kind is Kind.QUARANTINED and queue.quarantined(sink, selection=one)) or \
                (selection.kind is Kind.SKIPPED and queue.count_pending(sink, one)):
            found.add(rid)
    missing = [str(i) for i in selection.ids if i not in found]
    if missing:
        raise MonitorError(f"not {selection.kind.value} for sink {sink} and not yet re-sent "
                           f"(or outside --from/--to): reading id(s) {', '.join(missing[:20])}")


def _queue_request(loaded: LoadedConfig, queue: ResendQueue, args: argparse.Namespace,
                   selection: Selection) -> Request:
    def queue_it(user: str, trail: AuditTrail) -> Request:
        request = queue.request(args.sink, selection, user=user, reason=args.reason,
                                now_ns=utc_now_ns())
        trail.record(user, RESEND_REQUESTED, f"sink:{args.sink}",
                     new={k: v for k, v in request.public().items()
                          if k in ("id", "kind", "ids", "from_ns", "to_ns", "selected")},
                     reason=args.reason)
        return request

    return _authorised(loaded, args, queue_it)


def _authorised(loaded: LoadedConfig, args: argparse.Namespace,
                action: Callable[[str, AuditTrail], Request]) -> Request:
    """``action(username, trail)`` once ``--user`` gave their password and may configure."""
    from monitor.audit import AuditTrail
    from monitor.users.model import require
    from monitor.users.roles import Permission
    from monitor.users.store import UserStore

    data_dir = Path(loaded.config.data_dir)
    with AuditTrail(data_dir) as trail, \
            UserStore(data_dir, trail, loaded.config.users) as users:
        password = PasswordReader(args.password_stdin).read(f"Password for {args.user}")
        user = users.authenticate(args.user, password, source=CLI_SOURCE)
        require(user, Permission.CONFIGURE)
        return action(user.username, trail)


# ---------------------------------------------------------------------------- cancel
def cancel(loaded: LoadedConfig, queue: ResendQueue, args: argparse.Namespace) -> int:
    found = queue.get(args.request)
    if found is None:
        raise MonitorError(f"no resend request {args.request}")
    if found.status.final:  # refused before the password prompt; re-checked when cancelling
        raise MonitorError(f"resend request {found.id} is already {found.status.value}")

    def cancel_it(user: str, trail: AuditTrail) -> Request:
        request = queue.cancel(args.request, user=user, reason=args.reason, now_ns=utc_now_ns())
        trail.record(user, CANCEL_REQUESTED, f"sink:{request.sink}",
                     old={"id": request.id, "status": "pending"},
                     new={"id": request.id, "status": request.status.value,
                          "selected": request.selected, "sent": request.sent,
                          "rejected": request.rejected},
                     reason=args.reason)
        return request

    request = _authorised(loaded, args, cancel_it)
    print(f"resend request {request.id} of sink {request.sink} cancelled ({request.sent} of "
          f"{request.selected} sent so far)")
    if args.wait <= 0:
        return 0
    return _wait(queue, request.id, args.wait, cancelling=True)


def _wait(queue: ResendQueue, request_id: int, timeout: float, *,
          cancelling: bool = False) -> int:
    """Wait until the daemon has ended the request and audited its outcome.

    0 if it ended as asked: everything delivered, or (``cancelling``) cancelled.
    """
    deadline = time.monotonic() + timeout
    while True:
        request = queue.get(request_id)
        assert request is not None
        if request.outcome_audited:
            return _outcome(request, cancelling)
        if time.monotonic() >= deadline:
            state = "still pending" if request.status.value == "pending" else \
                f"{request.status.value}, its end not yet audited by the daemon,"
            print(f"request {request_id} {state} after {timeout:g} s ({request.sent} sent"
                  + (f"; last error: {request.last_error}" if request.last_error else "")
                  + "); the daemon carries it out while it runs: see `outbox requests`",
                  file=sys.stderr)
            return EXIT_REFUSED
        time.sleep(0.2)


def _outcome(request: Request, cancelling: bool) -> int:
    counts = f"{request.sent} sent, {request.rejected} still rejected"
    if request.status.value == "cancelled":
        print(f"request {request.id} cancelled by {request.cancelled_by}: {counts}")
        return 0 if cancelling else EXIT_REFUSED
    print(f"request {request.id} {request.status.value}: {counts}"
          + (f" ({request.last_error})" if request.rejected else ""))
    return 0 if request.status.value == "done" else EXIT_REFUSED
