"""The baseline the daemon's Modbus CPU is judged against: a bare pymodbus client loop.

One ``AsyncModbusTcpClient`` per device, one FC03 read of 10 holding registers
per device per second, the reads due in a second issued together with one
``gather`` (the cheapest way to poll: one event-loop wake-up per second), no
decoding, no alarms, no storage. Run as a child process; measures its own CPU
from /proc over the window after a warm-up and prints one ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time

from pymodbus.client import AsyncModbusTcpClient

from bench.common import cpu_seconds, percentile, rss_bytes

REGISTER_COUNT = 10


async def _run(
    host: str, ports: list[int], devices: int, warmup: float, duration: float
) -> dict[str, object]:
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    targets = [(ports[i % len(ports)], (i % 247) + 1) for i in range(devices)]
    clients = [AsyncModbusTcpClient(host, port=port, timeout=1.0, retries=0) for port, _ in targets]
    for start in range(0, devices, 200):  # connect in slices: a burst of 2,000 SYNs is not a poll
        await asyncio.gather(*(c.connect() for c in clients[start:start + 200]))
    connected = sum(1 for c in clients if c.connected)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    last_reply: list[float | None] = [None] * devices
    jitter: list[float] = []
    counting = False
    replies = errors = 0

    async def read(index: int) -> None:
        nonlocal replies, errors
        client = clients[index]
        try:
            rr = await client.read_holding_registers(0, count=REGISTER_COUNT,
                                                     device_id=targets[index][1])
        except Exception:  # baseline: count every failure, whatever it is
            errors += counting
            return
        if rr.isError() or len(rr.registers) != REGISTER_COUNT:
            errors += counting
            return
        now = loop.time()
        previous = last_reply[index]
        last_reply[index] = now
        if counting:
            replies += 1
            if previous is not None:
                jitter.append(abs(now - previous - 1.0))

    start_at = loop.time() + 0.5
    end_warmup = start_at + warmup
    end = end_warmup + duration
    cpu0 = wall0 = 0.0
    tick = start_at
    overruns = 0
    while tick < end:
        delay = tick - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            overruns += 1
        if not counting and tick >= end_warmup:
            counting = True
            cpu0, wall0 = cpu_seconds(), time.monotonic()
        await asyncio.gather(*(read(i) for i in range(devices)))
        tick += 1.0
    await asyncio.sleep(max(0.0, end - loop.time()))
    cpu, wall = cpu_seconds() - cpu0, time.monotonic() - wall0
    for client in clients:
        client.close()
    return {
        "devices": devices, "connected": connected, "cpu_s": cpu, "wall_s": wall,
        "polls": replies, "errors": errors, "readings": replies * REGISTER_COUNT,
        "overruns": overruns,
        "jitter_p50_ms": percentile(jitter, 50) * 1000,
        "jitter_p99_ms": percentile(jitter, 99) * 1000,
        "rss_mb": rss_bytes() / 2**20,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ports", required=True)
    parser.add_argument("--devices", type=int, required=True)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=15.0)
    args = parser.parse_args(argv)
    result = asyncio.run(_run(args.host, [int(p) for p in args.ports.split(",")], args.devices,
                              args.warmup, args.duration))
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
