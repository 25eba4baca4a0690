"""``alarms list|ack|shelve|unshelve|maintenance|verify`` and ``state show|set``.

Every command works on the data directory of ``-c CONFIG``. Reads rebuild the
alarm state from the event log (read-only). Actions need ``--user`` and
``--reason``; acknowledging an action alarm also needs an electronic signature
(the user's password, asked for at the terminal or read with
``--password-stdin``). When the daemon is running it owns the event log: the
action is handed to it as a request and this command waits for its answer;
otherwise the action is applied here directly. Exit status: 0 done, 1 refused,
2 invalid config.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from monitor.cli.main import add_config_argument
from monitor.config import LoadedConfig
from monitor.errors import MonitorError

EXIT_REFUSED = 1
WAIT_S = 15.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    alarms = sub.add_parser("alarms", help="list, acknowledge and shelve alarms",
                            description="Alarms of the site in -c CONFIG, from the alarm event "
                            "log in its data directory.")
    cmds = alarms.add_subparsers(dest="alarms_command", metavar="ACTION", required=True)

    lst = cmds.add_parser("list", help="alarms that are not normal (and shelved/out of service)")
    add_config_argument(lst)
    lst.add_argument("--json", action="store_true", help="one JSON object per line")
    lst.set_defaults(func=cmd_list)

    ack = cmds.add_parser("ack", help="acknowledge an alarm",
                          description="Acknowledge alarm ID (or a point device/channel:rule). "
                          "Action alarms need the user's password as an e-signature.")
    ack.add_argument("alarm", metavar="ID")
    _actor(ack)
    ack.add_argument("--password-stdin", action="store_true",
                     help="read the signing password from standard input")
    ack.set_defaults(func=cmd_ack)

    shelve = cmds.add_parser("shelve", help="shelve an alarm for a limited time")
    shelve.add_argument("alarm", metavar="ID")
    _actor(shelve)
    _until(shelve, required=True)
    shelve.set_defaults(func=cmd_shelve)

    unshelve = cmds.add_parser("unshelve", help="end a shelving early")
    unshelve.add_argument("alarm", metavar="ID")
    _actor(unshelve)
    unshelve.set_defaults(func=cmd_unshelve)

    maint = cmds.add_parser("maintenance", help="suppress the alarms of a location/device",
                            description="Maintenance/bypass mode: alarms of TARGET are still "
                            "evaluated and recorded but not annunciated.")
    maint.add_argument("target", metavar="TARGET", help="location, device or device/channel")
    maint.add_argument("switch", choices=["on", "off"])
    _actor(maint)
    _until(maint, required=False)
    maint.set_defaults(func=cmd_maintenance)

    verify = cmds.add_parser("verify", help="recompute the event log's hash chain",
                             description="Exit 0 if alarms.db is intact, 1 naming the first "
                             "event altered, removed or inserted.")
    add_config_argument(verify)
    verify.set_defaults(func=cmd_verify)

    state = sub.add_parser("state", help="show or set locations' at-rest/in-operation state")
    scmds = state.add_subparsers(dest="state_command", metavar="ACTION", required=True)
    show = scmds.add_parser("show", help="the state of every location and where it comes from")
    add_config_argument(show)
    show.set_defaults(func=cmd_state_show)
    sset = scmds.add_parser("set", help="set a location's state by hand (audited)",
                            description="'auto' gives the state back to the input channel, "
                            "schedule or default.")
    sset.add_argument("location", metavar="LOCATION")
    sset.add_argument("state", choices=["at_rest", "in_operation", "auto"])
    _actor(sset)
    _until(sset, required=False)
    sset.set_defaults(func=cmd_state_set)


def _actor(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--user", required=True, help="who acts (recorded with the event)")
    parser.add_argument("--reason", required=True, help="why (recorded with the event)")
    parser.add_argument("--wait", type=float, default=WAIT_S, metavar="SECONDS",
                        help=f"how long to wait for a running daemon (default {WAIT_S:g})")


def _until(parser: argparse.ArgumentParser, *, required: bool) -> None:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--for", dest="for_", metavar="DURATION", help="e.g. 30m, 2h")
    group.add_argument("--until", metavar="TIME", help="ISO 8601 UTC, e.g. 2026-11-26T18:00Z")


def _until_ns(args: argparse.Namespace) -> int | None:
    from monitor.audit import parse_utc_ns
    from monitor.config.durations import parse_duration
    from monitor.model import utc_now_ns

    if getattr(args, "until", None):
        return parse_utc_ns(args.until)
    if getattr(args, "for_", None):
        try:
            return utc_now_ns() + int(parse_duration(args.for_) * 1e9)
        except ValueError as err:
            raise MonitorError(str(err)) from err
    return None


def _load(path: str) -> LoadedConfig:
    from monitor.cli.daemon import load_or_exit

    loaded = load_or_exit(path)
    assert isinstance(loaded, LoadedConfig)
    return loaded


def _view(loaded: LoadedConfig) -> Any:
    """A read-only alarm service: the state as the event log has it."""
    from monitor.alarms.service import build_alarm_service

    return build_alarm_service(loaded, readonly=True)


def _refuse(err: Exception) -> int:
    print(f"refused: {err}", file=sys.stderr)
    return EXIT_REFUSED


def _fmt_ns(ns: int | None) -> str:
    if ns is None:
        return "-"
    from monitor.audit import short_utc

    return str(short_utc(ns))


# --- reading ---------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    loaded = _load(args.config)
    if not (Path(loaded.config.data_dir) / "alarms.db").exists():
        print("no alarm event log yet: no alarms")
        return 0
    service = _view(loaded)
    try:
        alarms = service.active()
    finally:
        service.close()
    if args.json:
        for alarm in alarms:
            print(json.dumps(alarm.to_json(), sort_keys=True))
        return 0
    if not alarms:
        print("no alarms")
        return 0
    print(f"{'ID':>5}  {'STATE':<12} {'MODE':<14} {'PRIO':<8} {'LEVEL':<6} {'SINCE (UTC)':<20} "
          f"{'LIMIT':>10} {'PEAK':>10}  POINT")
    for a in alarms:
        limit = "-" if a.limit is None else f"{a.limit:g}"
        peak = "-" if a.peak is None else f"{a.peak:g}"
        print(f"{a.alarm_id or '-':>5}  {a.state:<12} {a.mode:<14} {a.priority:<8} {a.level:<6} "
              f"{_fmt_ns(a.raised_ns):<20} {limit:>10} {peak:>10}  {a.point} ({a.location})")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from monitor.alarms.eventlog import EventLog

    loaded = _load(args.config)
    try:
        log = EventLog(loaded.config.data_dir, readonly=True)
        try:
            problem = log.verify()
            seq, digest = log.head()
        finally:
            log.close()
    except MonitorError as err:
        return _refuse(err)
    if problem is not None:
        print(f"alarm event log NOT intact: {problem}")
        return EXIT_REFUSED
    print(f"alarm event log intact: {seq} events, head {digest[:16]}")
    return 0


def cmd_state_show(args: argparse.Namespace) -> int:
    loaded = _load(args.config)
    if not (Path(loaded.config.data_dir) / "alarms.db").exists():
        for name, (_, loc) in loaded.locations.items():
            print(f"{name}: {loc.state.default} (default; daemon never started)")
        return 0
    service = _view(loaded)
    try:
        states = service.location_states()
    finally:
        service.close()
    for name, info in states.items():
        until = info["manual_until_ns"]
        extra = f" until {_fmt_ns(until)}" if until else ""
        print(f"{name}: {info['state']} ({info['source']}{extra})")
    return 0


# --- actions ---------------------------------------------------------------------------------


def cmd_ack(args: argparse.Namespace) -> int:
    loaded = _load(args.config)
    try:
        signature = _signature_if_needed(loaded, args)
    except MonitorError as err:
        return _refuse(err)
    return _act(loaded, args, "acknowledge", {"alarm": args.alarm, "signature": signature},
                lambda s: s.acknowledge(args.alarm, args.user, args.reason, signature))


def cmd_shelve(args: argparse.Namespace) -> int:
    loaded = _load(args.config)
    try:
        until = _until_ns(args)
    except MonitorError as err:
        return _refuse(err)
    return _act(loaded, args, "shelve", {"alarm": args.alarm, "until_ns": until},
                lambda s: s.shelve(args.alarm, args.user, args.reason, until))


def cmd_unshelve(args: argparse.Namespace) -> int:
    loaded = _load(args.config)
    return _act(loaded, args, "unshelve", {"alarm": args.alarm},
                lambda s: s.unshelve(args.alarm, args.user, args.reason))


def cmd_maintenance(args: argparse.Namespace) -> int:
    loaded = _load(args.config)
    try:
        until = _until_ns(args)
    except MonitorError as err:
        return _refuse(err)
    on = args.switch == "on"
    return _act(loaded, args, "set_maintenance",
                {"target": args.target, "on": on, "until_ns": until},
                lambda s: s.set_maintenance(args.target, on, args.user, args.reason, until))


def cmd_state_set(args: argparse.Namespace) -> int:
    loaded = _load(args.config)
    try:
        until = _until_ns(args)
    except MonitorError as err:
        return _refuse(err)
    state = None if args.state == "auto" else args.state
    return _act(loaded, args, "set_location_state",
                {"location": args.location, "state": state, "until_ns": until},
                lambda s: s.set_location_state(args.location, state, args.user, args.reason,
                                               until))


def _signature_if_needed(loaded: LoadedConfig, args: argparse.Namespace) -> dict[str, Any] | None:
    """Ask for the password when the alarm is an action alarm that needs a signature."""
    from monitor.alarms.events import Level
    from monitor.alarms.signing import sign_acknowledgement

    if not loaded.config.alarms.require_signature_for_action:
        return None
    service = _view(loaded)
    try:
        point = service.engine.find(args.alarm)
        if point.level is not Level.ACTION:
            return None
        record = service.signing_record(args.alarm)
    finally:
        service.close()
    from monitor.cli.users import PasswordReader

    password = PasswordReader(args.password_stdin).read(
        f"Password of {args.user} to sign the acknowledgement of alarm {record['record_id']}")
    return sign_acknowledgement(loaded.config.data_dir, getattr(loaded.config, "users", None),
                                args.user, password, record=record, comment=args.reason)


def _act(loaded: LoadedConfig, args: argparse.Namespace, op: str, request: Mapping[str, Any],
         direct: Callable[[Any], list[Any]]) -> int:
    """Apply here if no daemon holds the log, else hand the request to the daemon."""
    from monitor.alarms.service import build_alarm_service
    from monitor.alarms.writer import WriterLock

    data_dir = Path(loaded.config.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = WriterLock(data_dir)
    try:
        if lock.acquire(0.0):
            try:
                service = build_alarm_service(loaded)
                try:
                    events = direct(service)
                finally:
                    service.close()
            finally:
                lock.release()
            for event in events:
                print(_describe(event))
            return 0
        return _request(data_dir, op, request, args)
    except MonitorError as err:
        return _refuse(err)


def _request(data_dir: Path, op: str, request: Mapping[str, Any],
             args: argparse.Namespace) -> int:
    from monitor.alarms import requests
    from monitor.alarms.eventlog import EventLog
    from monitor.model import utc_now_ns

    log = EventLog(data_dir)
    try:
        rid = requests.submit(log, op, request, user=args.user, reason=args.reason,
                              ts_ns=utc_now_ns())
        result = requests.wait_result(log, rid, args.wait)
        if result is None:
            print(f"the running daemon did not answer within {args.wait:g} s; request {rid} "
                  "expires unanswered", file=sys.stderr)
            return EXIT_REFUSED
        if not result.ok:
            return _refuse(MonitorError(result.message))
        for event in log.events(after_seq=min(result.events) - 1 if result.events else 0,
                                limit=len(result.events)) if result.events else []:
            print(_describe(event))
        return 0
    finally:
        log.close()


def _describe(event: Any) -> str:
    target = f"alarm {event.alarm_id}" if event.alarm_id is not None else (event.point or "")
    state = f" -> {event.state}" if event.state is not None else ""
    if event.location_state and event.kind == "location_state":
        state = f" -> {event.location_state}"
    return f"{event.kind}: {target}{state} (event {event.seq})"
