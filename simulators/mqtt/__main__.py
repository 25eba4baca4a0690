"""``python -m simulators.mqtt -c SITE.yaml --connection NAME``: simulate an MQTT connection.

Every enabled device of that connection publishes what its profile describes, every
``poll_interval`` (simulated) seconds, to the connection's broker, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from monitor.config import load_config
from simulators.devices.clock import SimClock
from simulators.devices.environment import World

from .simulator import MqttSimulator


async def _run(args: argparse.Namespace) -> None:
    loaded = load_config(args.config)
    world = World(SimClock(speed=args.speed))
    sim = MqttSimulator.from_config(loaded.config, args.connection, world=world)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with sim:
        print(f"publishing {len(sim.devices)} devices to {sim.host}:{sim.port}", flush=True)
        if args.duration:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.duration)
        else:
            await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators.mqtt", description=__doc__)
    parser.add_argument("-c", "--config", required=True, help="site config")
    parser.add_argument("--connection", required=True, help="name of an MQTT connection in it")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated s per real s")
    parser.add_argument("--duration", type=float, help="stop after this many real seconds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    asyncio.run(_run(args))


if __name__ == "__main__":
    main()
