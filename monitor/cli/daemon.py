"""``run``, ``check-config`` and ``schema``: the commands a facility engineer starts with."""

from __future__ import annotations

import argparse
import json
import sys

from monitor.cli.main import add_config_argument
from monitor.config import Config, load_config
from monitor.errors import ConfigError
from monitor.gc_pause import GcPause

EXIT_CONFIG = 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="run the daemon (systemd starts this)",
                         description="Poll the configured devices, evaluate alarms, store "
                         "readings. SIGHUP reloads the config, SIGTERM stops cleanly.")
    add_config_argument(run)
    run.add_argument("--log-format", choices=["kv", "json"], help="overrides log.format")
    add_loop_argument(run)
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check-config", help="validate a config file and exit",
                           description="Validate FILE; print every problem as "
                           "FILE:LINE: field: message. Exit 0 if valid, 2 if not.")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(func=cmd_check)

    schema = sub.add_parser("schema", help="print the config's JSON Schema",
                            description="Print the JSON Schema of the config file, for "
                            "editor completion (e.g. yaml-language-server).")
    schema.set_defaults(func=cmd_schema)


def add_loop_argument(parser: argparse.ArgumentParser) -> None:
    """``--loop``: the event loop for this run, over the config's ``event_loop``."""
    parser.add_argument("--loop", choices=["auto", "uvloop", "asyncio"],
                        help="event loop for this run, over the config's event_loop (auto: "
                        "uvloop when installed, else asyncio's own)")


def load_or_exit(path: str, *, cached: bool = False) -> object:
    """The loaded config, or exit 2 listing every problem.

    ``cached`` (``run``) takes an unchanged config from the validated-config cache
    (monitor/config/cache.py); ``check-config`` always validates in full.
    """
    try:
        if cached:
            from monitor.config.cache import load_config_cached

            return load_config_cached(path, save=False)
        return load_config(path)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        print(f"{len(err.problems)} problem(s) in {path}; nothing started.", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from err


def cmd_check(args: argparse.Namespace) -> int:
    loaded = load_or_exit(args.file)
    from monitor.config import LoadedConfig

    assert isinstance(loaded, LoadedConfig)
    cfg = loaded.config
    print(f"{args.file}: OK — {len(cfg.rooms)} rooms, "
          f"{sum(len(r.locations) for r in cfg.rooms)} locations, {len(cfg.devices)} devices, "
          f"{len(loaded.channels)} channels; sha256 {loaded.sha256[:12]}")
    return 0


def cmd_schema(_args: argparse.Namespace) -> int:
    json.dump(Config.model_json_schema(), sys.stdout, indent=2)
    print()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from monitor import eventloop
    from monitor.config import LoadedConfig
    from monitor.logs import setup_logging
    from monitor.service import Service

    # the cyclic GC stays off from the load until the service freezes what its start built
    # (monitor/gc_pause.py); the service resumes it then, this ``with`` on every other path
    with GcPause() as gc_pause:
        loaded = load_or_exit(args.config, cached=True)
        assert isinstance(loaded, LoadedConfig)
        setup_logging(args.log_format or loaded.config.log.format, loaded.config.log.level)
        choice = args.loop or loaded.config.event_loop
        try:
            eventloop.loop_factory(choice)  # an explicit uvloop that is not installed stops here
        except ConfigError as err:
            for problem in err.problems:
                print(problem, file=sys.stderr)
            return EXIT_CONFIG
        return eventloop.run(Service(args.config, loaded=loaded, gc_pause=gc_pause).run(),
                             choice, setting="--loop" if args.loop else "event_loop")
