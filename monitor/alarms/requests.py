"""Operator requests from another process (the CLI) to the running daemon's engine.

A request is a row in ``requests`` (op, JSON args, user, reason); the daemon
picks new rows up on its next tick (it notices other writers through SQLite's
``data_version``), applies them exactly as an API call would, and appends a
row to ``request_results``. Both tables are append-only like the events. A
request older than ``MAX_AGE_S`` when the daemon sees it is refused rather
than applied late.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.errors import AlarmError, AuthError, StoreError

from .eventlog import EventLog

OPS = ("acknowledge", "shelve", "unshelve", "set_location_state", "set_maintenance",
       "set_out_of_service")
MAX_AGE_S = 60.0


@dataclass(frozen=True)
class Request:
    id: int
    ts_ns: int
    op: str
    args: Mapping[str, Any]
    user: str
    reason: str


@dataclass(frozen=True)
class Result:
    ok: bool
    message: str
    events: Sequence[int]  # seqs of the events the request produced


def submit(log: EventLog, op: str, args: Mapping[str, Any], *, user: str, reason: str,
           ts_ns: int) -> int:
    if op not in OPS:
        raise AlarmError(f"unknown request {op!r}")
    return log.insert("INSERT INTO requests (ts_ns, op, args, user, reason) VALUES (?,?,?,?,?)",
                      (ts_ns, op, json.dumps(dict(args), sort_keys=True), user, reason))


def wait_result(log: EventLog, request_id: int, timeout: float) -> Result | None:
    deadline = time.monotonic() + timeout
    while True:
        rows = log.execute("SELECT ok, message, events FROM request_results WHERE request_id = ?",
                           (request_id,))
        if rows:
            ok, message, events = rows[0]
            return Result(bool(ok), str(message), tuple(json.loads(events)))
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


def pending(log: EventLog) -> list[Request]:
    rows = log.execute(
        "SELECT id, ts_ns, op, args, user, reason FROM requests r WHERE NOT EXISTS "
        "(SELECT 1 FROM request_results x WHERE x.request_id = r.id) ORDER BY id")
    return [Request(int(i), int(t), str(op), json.loads(a), str(u), str(r))
            for i, t, op, a, u, r in rows]


def record(log: EventLog, request_id: int, ts_ns: int, result: Result) -> None:
    log.insert("INSERT INTO request_results (request_id, ts_ns, ok, message, events) "
               "VALUES (?,?,?,?,?)", (request_id, ts_ns, int(result.ok), result.message,
                                      json.dumps(list(result.events))))


def process(log: EventLog, now_ns: int, apply: Callable[[Request], Sequence[int]]) -> int:
    """Apply every pending request; returns how many were handled."""
    handled = 0
    for request in pending(log):
        if now_ns - request.ts_ns > MAX_AGE_S * 1e9:
            result = Result(False, "request expired before the daemon saw it", ())
        else:
            try:
                seqs = apply(request)
                result = Result(True, "done", tuple(seqs))
            except (AlarmError, AuthError, StoreError) as err:
                result = Result(False, str(err), ())
        record(log, request.id, now_ns, result)
        handled += 1
    return handled
