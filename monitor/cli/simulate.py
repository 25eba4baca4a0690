"""``cleanroom-monitor simulate``: run the device simulators alone.

Either for a site config (one simulator per Modbus connection, at the address
the daemon will poll) or for the ``servers:`` a scenario file lists; the
scenario's events then play out on the simulated clock.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "simulate", help="run the device simulators (Modbus TCP/RTU/ASCII) with a scenario",
        description=__doc__,
    )
    parser.add_argument("--scenario", metavar="FILE", help="scenario YAML (simulators/scenarios/)")
    parser.add_argument("-c", "--config", metavar="FILE",
                        help="site config: simulate every device of its Modbus connections")
    parser.add_argument("--connection", action="append", metavar="NAME",
                        help="only these connections of the site config (repeatable)")
    parser.add_argument("--speed", type=float, help="simulated seconds per real second")
    parser.add_argument("--duration", type=float, metavar="SECONDS",
                        help="stop after this many real seconds (default: until Ctrl-C)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from monitor.errors import ConfigError

    try:
        return asyncio.run(_run(args))
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    except (OSError, ValueError, KeyError) as err:
        print(f"simulate: {err}", file=sys.stderr)
        return 1


async def _run(args: argparse.Namespace) -> int:
    from monitor.config import load_config
    from simulators.devices.clock import SimClock
    from simulators.devices.environment import World
    from simulators.scenario import Scenario, ScenarioSpec
    from simulators.site import SiteSimulation

    scenario = Scenario.load(args.scenario) if args.scenario else Scenario(ScenarioSpec())
    speed = args.speed if args.speed is not None else scenario.spec.clock.speed
    world = World(SimClock(speed=speed))
    if args.config:
        site = SiteSimulation.from_config(load_config(args.config).config, world,
                                          connections=args.connection)
    elif scenario.spec.servers:
        site = SiteSimulation.from_servers(scenario.spec.servers, world)
    else:
        print("simulate: give --config SITE.yaml or a scenario with 'servers:'", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with site:
        for line in site.describe():
            print(line, flush=True)
        scenario.setup(world, site)
        print(f"scenario {scenario.spec.name!r}: {len(scenario.spec.events)} events, "
              f"clock x{speed:g}", flush=True)
        runner = asyncio.create_task(scenario.run())
        waiter = asyncio.create_task(stop.wait())
        tasks = {runner, waiter}
        if args.duration is not None:
            tasks.add(asyncio.create_task(asyncio.sleep(args.duration)))
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if runner in done and runner.exception() is None:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if runner.done() and not runner.cancelled() and runner.exception() is not None:
            raise runner.exception()  # type: ignore[misc]
    return 0
