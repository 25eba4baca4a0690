"""``user add|passwd|disable|enable|unlock|roles|token|list``: managing accounts on the host.

Passwords are read from a prompt (twice) or, for scripts, one per line from
standard input with ``--password-stdin``; never from the command line, where
they would land in the shell history and the process list. The acting user
recorded in the audit trail is the operating-system account (``os:<login>``)
unless ``--self`` is given, in which case the user proves who they are with
their current password.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

from monitor.audit import AuditTrail, short_utc
from monitor.cli.audit import os_actor
from monitor.cli.main import add_config_argument
from monitor.errors import MonitorError
from monitor.users.store import UserStore

EXIT_REFUSED = 1


@dataclass
class Context:
    trail: AuditTrail
    users: UserStore


@contextmanager
def open_users(config_path: str) -> Iterator[Context]:
    from monitor.cli.daemon import load_or_exit
    from monitor.config import LoadedConfig

    loaded = load_or_exit(config_path)
    assert isinstance(loaded, LoadedConfig)
    with AuditTrail(loaded.config.data_dir) as trail, \
            UserStore(loaded.config.data_dir, trail, loaded.config.users) as users:
        yield Context(trail, users)


class PasswordReader:
    """Passwords from the terminal or, with ``--password-stdin``, one per stdin line."""

    def __init__(self, from_stdin: bool, stream: TextIO | None = None) -> None:
        self.from_stdin = from_stdin
        self.stream = stream

    def read(self, prompt: str, *, confirm: bool = False) -> str:
        if self.from_stdin:
            line = (self.stream or sys.stdin).readline()
            if not line:
                raise MonitorError(f"standard input ended before the {prompt.lower()}")
            return line.rstrip("\r\n")
        first = getpass.getpass(f"{prompt}: ")
        if confirm and getpass.getpass(f"{prompt} (again): ") != first:
            raise MonitorError("the two entries differ")
        return first


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = sub.add_parser("user", help="manage user accounts and API tokens",
                          description="Accounts live in <data_dir>/users.db; every change is "
                          "audited. Accounts are disabled, never deleted.")
    cmds = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)

    def command(name: str, helptext: str, *, username: bool = True) -> argparse.ArgumentParser:
        parser = cmds.add_parser(name, help=helptext, description=helptext)
        add_config_argument(parser)
        if username:
            parser.add_argument("username")
        return parser

    add = command("add", "create an account with a temporary password")
    add.add_argument("--full-name", required=True, help="printed on the user's signatures")
    add.add_argument("--role", action="append", required=True,
                     help="operator, engineer, qa or admin (repeat or comma-separate)")
    add.add_argument("--password-stdin", action="store_true")
    add.add_argument("--reason")
    add.set_defaults(func=_run(_add))

    passwd = command("passwd", "set a password (temporary unless --self)")
    passwd.add_argument("--self", dest="self_service", action="store_true",
                        help="the user changes their own password (asks the current one first)")
    passwd.add_argument("--password-stdin", action="store_true",
                        help="read the password(s) from standard input, one per line "
                        "(with --self: current, then new)")
    passwd.add_argument("--reason")
    passwd.set_defaults(func=_run(_passwd))

    for name, helptext in (("disable", "disable an account (it is never deleted)"),
                           ("enable", "enable a disabled account"),
                           ("unlock", "lift a lockout after failed logins")):
        parser = command(name, helptext)
        parser.add_argument("--reason", required=True)
        parser.set_defaults(func=_run(_flag), flag=name)

    roles = command("roles", "replace an account's roles")
    roles.add_argument("--role", action="append", required=True)
    roles.add_argument("--reason", required=True)
    roles.set_defaults(func=_run(_roles))

    token = command("token", "issue, list or revoke API tokens of an account")
    token.add_argument("--name", help="what the token is for, e.g. 'LIMS export'")
    token.add_argument("--days", type=float, help="lifetime (default: the policy's maximum)")
    token.add_argument("--revoke", metavar="TOKEN_ID")
    token.add_argument("--list", action="store_true")
    token.add_argument("--reason")
    token.set_defaults(func=_run(_token))

    listing = command("list", "list accounts", username=False)
    listing.set_defaults(func=_run(_list))


UserAction = Callable[[Context, argparse.Namespace], int]


def _run(action: UserAction) -> Callable[[argparse.Namespace], int]:
    """Open the stores for ``action``; a refused action prints why and exits 1."""

    def run(args: argparse.Namespace) -> int:
        try:
            with open_users(args.config) as ctx:
                return action(ctx, args)
        except MonitorError as err:
            print(f"user {args.user_command}: {err}", file=sys.stderr)
            return EXIT_REFUSED

    return run


def _add(ctx: Context, args: argparse.Namespace) -> int:
    password = PasswordReader(args.password_stdin).read("Temporary password", confirm=True)
    user = ctx.users.add(os_actor(), args.username, args.full_name, args.role, password,
                         reason=args.reason)
    print(f"added {user.username} ({user.full_name}), roles "
          f"{', '.join(sorted(user.roles))}; the password must be changed at first login")
    return 0


def _passwd(ctx: Context, args: argparse.Namespace) -> int:
    reader = PasswordReader(args.password_stdin)
    if args.self_service:
        current = reader.read("Current password")
        new = reader.read("New password", confirm=True)
        ctx.users.set_password(args.username, args.username, new, old_password=current,
                               reason=args.reason)
        print(f"password of {args.username} changed")
    else:
        new = reader.read("Temporary password", confirm=True)
        ctx.users.set_password(os_actor(), args.username, new, reason=args.reason)
        print(f"temporary password set for {args.username}; it must be changed at next login")
    return 0


def _flag(ctx: Context, args: argparse.Namespace) -> int:
    method = getattr(ctx.users, args.flag)
    method(os_actor(), args.username, args.reason)
    print(f"{args.username}: {args.flag}d" if args.flag != "unlock" else
          f"{args.username}: unlocked")
    return 0


def _roles(ctx: Context, args: argparse.Namespace) -> int:
    user = ctx.users.set_roles(os_actor(), args.username, args.role, args.reason)
    print(f"{user.username}: roles {', '.join(sorted(user.roles))}")
    return 0


def _token(ctx: Context, args: argparse.Namespace) -> int:
    if args.list:
        for info in ctx.users.tokens.listing(args.username):
            state = ("revoked" if info.revoked_ns else
                     "expired" if not info.valid(ctx.users.clock()) else "valid")
            expires = short_utc(info.expires_ns) if info.expires_ns else "never"
            print(f"{info.id}  {info.name:<24} {state:<8} created {short_utc(info.created_ns)} "
                  f"expires {expires}")
        return 0
    if args.revoke:
        if not args.reason:
            raise MonitorError("--reason is required to revoke a token")
        owned = ctx.users.tokens.get(args.revoke)
        if owned is None or owned.username.lower() != args.username.lower():
            raise MonitorError(f"{args.username} has no token {args.revoke!r}")
        ctx.users.tokens.revoke(os_actor(), args.revoke, args.reason)
        print(f"token {args.revoke} revoked")
        return 0
    if not args.name:
        raise MonitorError("--name is required to issue a token (what is it for?)")
    lifetime = None if args.days is None else args.days * 86400
    info, secret = ctx.users.tokens.issue(os_actor(), args.username, args.name,
                                          lifetime_s=lifetime, reason=args.reason)
    print(secret)
    print(f"token {info.id} for {info.username}, expires "
          f"{short_utc(info.expires_ns) if info.expires_ns else 'never'}; it is shown only once",
          file=sys.stderr)
    return 0


def _list(ctx: Context, _args: argparse.Namespace) -> int:
    now = ctx.users.clock()
    print(f"{'user':<16} {'name':<24} {'roles':<22} state")
    for user in ctx.users.users():
        state = []
        if user.disabled:
            state.append("disabled")
        if user.locked(now):
            state.append(f"locked until {short_utc(user.locked_until_ns or 0)}")
        if user.must_change_password:
            state.append("temporary password")
        elif user.password_expired(now):
            state.append("password expired")
        print(f"{user.username:<16} {user.full_name:<24} {','.join(sorted(user.roles)):<22} "
              f"{', '.join(state) or 'active'}")
    return 0
