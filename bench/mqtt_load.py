"""The MQTT load generator of bench.mqtt_ingest, in its own process.

Publishes ``--messages`` JSON state messages (6 values each, the generic CO2
incubator profile) for ``--devices`` devices to a broker at QoS 1 with the
project's pipelined raw publisher (simulators.mqtt.flood), each message with
its own device timestamp so that no two readings of a channel are alike.
Prints ``ready`` once the payloads are built, waits for a line on stdin, then
publishes and prints one ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from simulators.mqtt import build_payload, flood, plan_topics
from simulators.profiles import load_profile

PROFILE = "co2-incubator-mqtt"
VALUES = {"temperature": 37.0, "co2": 5.0, "o2": 20.9, "relative_humidity": 93.0,
          "door": 0.0, "alarm": 0.0}


def topic_of(device: int) -> str:
    return f"site/room{device % 10}/dev{device}"


def payloads(devices: int, messages: int) -> list[tuple[bytes, bytes]]:
    profile = load_profile(PROFILE)
    plans = [plan_topics(profile, topic_of(i))[0] for i in range(devices)]
    start = time.time() - messages / devices  # device timestamps end about now
    out = []
    for k in range(messages):
        plan = plans[k % devices]
        out.append((plan.topic.encode(), build_payload(plan, VALUES, start + k / devices)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--devices", type=int, required=True)
    parser.add_argument("--messages", type=int, required=True)
    args = parser.parse_args(argv)
    batch = payloads(args.devices, args.messages)
    print("ready", flush=True)
    sys.stdin.readline()
    started_ns = time.time_ns()
    result = asyncio.run(flood(args.host, args.port, batch, client_id="bench-load"))
    print("RESULT " + json.dumps({"messages": result.messages, "seconds": result.seconds,
                                  "started_ns": started_ns}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
