"""``cleanroom-monitor``: one command, a sub-command per task.

Each command group lives in its own module exposing ``register(subparsers)``;
the module sets ``func`` on its parser, which receives the parsed namespace
and returns the exit status.
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cleanroom-monitor",
        description="Environmental monitoring daemon for GMP cleanrooms.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
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
    parser = build_parser()
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
