"""``cleanroom-monitor``: one command, a sub-command per task.

Each command group lives in its own module exposing ``register(subparsers)``;
the module sets ``func`` on its parser, which receives the parsed namespace
and returns the exit status. A command line that names a known command
imports that command's module only: ``cleanroom-monitor run``, the daemon,
does not carry the report, QA, audit export and simulator commands (19
modules, ~0.9 MB of its memory) for as long as it runs. ``--help`` and
anything else build the whole parser.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from monitor import __version__

#: Modules that add sub-commands. Each has ``register(subparsers)``.
COMMAND_MODULES = (
    "monitor.cli.daemon",  # run, check-config, schema
    "monitor.cli.demo",  # demo
    "monitor.cli.simulate",  # simulate
    "monitor.cli.query",  # query
    "monitor.cli.alarms",  # alarms, state
    "monitor.cli.users",  # user
    "monitor.cli.audit",  # audit
    "monitor.cli.excursions",  # excursions
    "monitor.cli.report",  # report
    "monitor.cli.outbox",  # outbox
)

#: The module that registers each command (tests/cli/test_main.py checks it against them).
COMMANDS = {
    "run": "monitor.cli.daemon", "check-config": "monitor.cli.daemon",
    "schema": "monitor.cli.daemon", "demo": "monitor.cli.demo",
    "simulate": "monitor.cli.simulate", "query": "monitor.cli.query",
    "alarms": "monitor.cli.alarms", "state": "monitor.cli.alarms", "user": "monitor.cli.users",
    "audit": "monitor.cli.audit", "excursions": "monitor.cli.excursions",
    "report": "monitor.cli.report", "outbox": "monitor.cli.outbox",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or with ``command`` (a known one) of its module's only."""
    parser = argparse.ArgumentParser(
        prog="cleanroom-monitor",
        description="Environmental monitoring daemon for GMP cleanrooms.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules: tuple[str, ...] = COMMAND_MODULES
    if command is not None and command in COMMANDS:
        modules = (COMMANDS[command],)
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
            continue
        module.register(sub)
    return parser


def add_config_argument(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """The one way every command names its config file: ``-c/--config FILE``."""
    parser.add_argument(
        "-c", "--config", required=required, metavar="FILE",
        help="site configuration YAML (e.g. /etc/cleanroom-monitor/cleanroom-monitor.yaml)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # a top-level option first (--help, --version) gets the whole parser
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
