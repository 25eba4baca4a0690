"""The baseline of bench.mqtt_ingest: a bare aiomqtt subscriber that only parses and counts.

Subscribes to the load's topics at QoS 1 and ``json.loads`` each message (the
least any consumer of JSON state messages does); prints ``ready`` once
subscribed and, after ``--messages`` messages, one ``RESULT {json}`` with the
UTC time of the first and last message and its own CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import aiomqtt

from bench.common import cpu_seconds


async def run(host: str, port: int, expected: int) -> dict[str, float | int]:
    count = 0
    first = last = 0
    async with aiomqtt.Client(host, port, identifier="bench-baseline", clean_session=True,
                              max_queued_incoming_messages=0) as client:
        await client.subscribe("site/#", qos=1)
        print("ready", flush=True)
        cpu0 = 0.0
        async for message in client.messages:
            json.loads(bytes(message.payload))  # type: ignore[arg-type]
            count += 1
            last = time.time_ns()
            if count == 1:
                first, cpu0 = last, cpu_seconds()
            if count >= expected:
                break
    return {"messages": count, "first_ns": first, "last_ns": last, "cpu_s": cpu_seconds() - cpu0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--messages", type=int, required=True)
    args = parser.parse_args(argv)
    print("RESULT " + json.dumps(asyncio.run(run(args.host, args.port, args.messages))),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
