"""The command line imports the module of the command it runs, and every command is found."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest

from monitor.cli.main import COMMAND_MODULES, COMMANDS, build_parser, main


def _choices(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    raise AssertionError("no sub-commands")


def test_each_command_is_mapped_to_the_module_that_registers_it() -> None:
    registered: dict[str, str] = {}
    for name in COMMAND_MODULES:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers(dest="command")
        importlib.import_module(name).register(sub)
        registered.update(dict.fromkeys(sub.choices, name))
    assert registered == COMMANDS
    assert _choices(build_parser()) == set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_named_command_gets_its_own_module_s_parser(command: str) -> None:
    assert command in _choices(build_parser(command))
    assert _choices(build_parser(command)) <= {c for c, m in COMMANDS.items()
                                                if m == COMMANDS[command]}


def test_help_and_unknown_commands_get_every_command(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    assert _choices(build_parser("no-such-command")) == set(COMMANDS)
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert all(command in out for command in COMMANDS)
    with pytest.raises(SystemExit) as exit_:
        main(["no-such-command"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


#: Imported by other commands, never by ``cleanroom-monitor run`` (the daemon).
OTHERS_ONLY = ("monitor.cli.report", "monitor.cli.excursions", "monitor.cli.demo",
               "monitor.cli.simulate", "monitor.cli.query", "monitor.cli.audit",
               "monitor.cli.users", "monitor.cli.outbox", "monitor.audit.export",
               "monitor.qa.workflow", "csv", "getpass")

PROBE = f"""
import sys
from monitor.cli.main import build_parser
args = build_parser("run").parse_args(["run", "-c", "/etc/site.yaml", "--log-format", "json"])
assert args.command == "run" and callable(args.func), args
print(" ".join(m for m in {OTHERS_ONLY!r} if m in sys.modules) or "none")
"""


def test_the_daemon_s_command_line_does_not_import_the_other_commands() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "none"
