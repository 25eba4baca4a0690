"""Benchmark 2: MQTT ingest from a real Mosquitto, evaluated by the alarm engine and stored.

A load generator process (bench.mqtt_load) publishes JSON state messages
(6 values each) at QoS 1 to Mosquitto as fast as the broker takes them; the
daemon (bench.daemon_probe, subscribed as configured, alarm limits on the
temperature and CO2 of every device, embedded store) consumes them. The
rate is counted where the readings end up: from the first publish to the
moment the store holds every one of them; none may be missing.

Baseline in the same run, same broker, same load: a bare aiomqtt subscriber
that only parses each message (bench.mqtt_baseline).

Target (issue 8): >= 50,000 readings/s sustained, none lost.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import BenchResult
from bench.mqtt_load import PROFILE, topic_of
from bench.procs import Child, python_module
from bench.store_count import count_readings

PER_MESSAGE = 6
TARGET = 50_000


def site(tmp: Path, host: str, port: int, devices: int) -> dict[str, Any]:
    from simulators.profiles import load_profile

    profile = load_profile(PROFILE).model_dump(mode="json", exclude_none=True)
    locations = [f"loc-{i:04d}" for i in range(devices)]
    return {
        "site": {"id": "bench"},
        "data_dir": str(tmp / "data"),
        "log": {"level": "warning"},
        "profiles": {"incubator": profile},
        "connections": [{"name": "broker", "driver": "mqtt", "host": host, "port": port,
                         "subscriptions": ["site/#"], "qos": 1,
                         "client_id": "bench-daemon", "clean_session": True}],
        "rooms": [{"name": f"room-{r}", "grade": "C",
                   "locations": [{"name": loc} for loc in locations[r * 50:(r + 1) * 50]]}
                  for r in range((devices + 49) // 50)],
        "devices": [{"name": f"inc{i:04d}", "connection": "broker", "location": locations[i],
                     "profile": "incubator", "topic": topic_of(i)} for i in range(devices)],
        "alarms": {"limits": {loc: [
            {"channel": f"inc{i:04d}/temperature", "high_alert": 38.0, "high_action": 39.0,
             "low_alert": 36.0, "low_action": 35.0},
            {"channel": f"inc{i:04d}/co2", "high_alert": 5.5, "high_action": 6.0},
        ] for i, loc in enumerate(locations)}},
        "http": {"enabled": False},
    }


def load_process(port: int, devices: int, messages: int) -> Child:
    child = Child(python_module("bench.mqtt_load", "--port", str(port), "--devices",
                                str(devices), "--messages", str(messages)),
                  stdin=True, name="mqtt-load")
    child.wait_line("ready", 120)
    return child


def run_baseline(port: int, devices: int, messages: int) -> dict[str, Any]:
    sub = Child(python_module("bench.mqtt_baseline", "--port", str(port), "--messages",
                              str(messages)), name="mqtt-baseline")
    load = load_process(port, devices, messages)
    try:
        sub.wait_line("ready", 30)
        load.send("go")
        published = load.result(300)
        got = sub.result(300)
    finally:
        load.stop()
        sub.stop()
    seconds = (got["last_ns"] - published["started_ns"]) / 1e9
    return {"messages": got["messages"], "seconds": seconds,
            "readings_per_s": got["messages"] * PER_MESSAGE / seconds,
            "cpu_per_reading_us": got["cpu_s"] / max(1, got["messages"] * PER_MESSAGE) * 1e6,
            "publish_rate": published["messages"] / published["seconds"]}


def run_daemon(tmp: Path, port: int, devices: int, messages: int,
               profile: str | None = None) -> dict[str, Any]:
    from bench.configs import write_config

    config = write_config(tmp / "site.yaml", site(tmp, "127.0.0.1", port, devices))
    extra = ["--profile", str(Path(profile).resolve())] if profile else []
    daemon = Child(python_module("bench.daemon_probe", "--config", str(config), "--subscriber",
                                 "--warmup", "0", "--window-stdin", "--rss-every", "1", *extra),
                   stdin=True, name="daemon")
    load = load_process(port, devices, messages)
    expected = messages * PER_MESSAGE
    try:
        daemon.wait_line("ready", 120)
        load.send("go")
        published = load.result(600)
        data_dir = tmp / "data"
        deadline = time.monotonic() + 300
        stored = 0
        done_ns = None
        while time.monotonic() < deadline:
            stored = count_readings(data_dir)
            if stored >= expected:
                done_ns = time.time_ns()
                break
            time.sleep(0.1)
        daemon.send("stop")
        result = daemon.result(120)
    finally:
        load.stop()
        daemon.stop()
    end_ns = done_ns or time.time_ns()
    seconds = (end_ns - published["started_ns"]) / 1e9
    return {"messages": published["messages"], "expected": expected, "stored": stored,
            "seconds": seconds, "readings_per_s": stored / seconds,
            "cpu_per_reading_us": result["cpu_s"] / max(1, result["readings"]) * 1e6,
            "daemon_cpu_pct": result["cpu_s"] / result["wall_s"] * 100,
            "rss_mb": max(m for _, m in result["rss_mb"]),
            "publish_rate": published["messages"] / published["seconds"]}


def main(argv: list[str] | None = None) -> int:
    from tests.fixtures.mosquitto import Mosquitto

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--messages", type=int)
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--profile", metavar="FILE",
                        help="write cProfile stats of the daemon's window to FILE")
    parser.add_argument("--daemon-only", action="store_true",
                        help="skip the baseline (for profiling; no daemon/baseline ratio)")
    args = parser.parse_args(argv)
    messages = args.messages or (10_000 if args.quick else 120_000)
    result = BenchResult("mqtt_ingest", args.quick)
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-") as tmp:
        broker = Mosquitto(Path(tmp) / "mosquitto")
        broker.start()
        try:
            base = None if args.daemon_only else run_baseline(broker.port, args.devices, messages)
            daemon = run_daemon(Path(tmp), broker.port, args.devices, messages, args.profile)
        finally:
            broker.stop()
    result.tables["mqtt_ingest"] = [{"consumer": "daemon", **daemon}]
    if base is not None:
        result.tables["mqtt_ingest"].append({"consumer": "bare aiomqtt (baseline)", **base})
    rate = daemon["readings_per_s"]
    result.add("readings/s stored (publish -> store)", rate, "/s", target=f">= {TARGET:,}",
               baseline=base["readings_per_s"] if base else None, ok=rate >= TARGET)
    if base is not None:
        result.add("daemon / baseline rate", rate / base["readings_per_s"], "x")
    lost = daemon["expected"] - daemon["stored"]
    result.add("readings lost", lost, "", target="0", ok=lost == 0)
    result.add("daemon CPU per reading", daemon["cpu_per_reading_us"], "us",
               baseline=base["cpu_per_reading_us"] if base else None)
    result.add("daemon RSS peak", daemon["rss_mb"], "MB")
    result.note(f"{messages:,} messages x {PER_MESSAGE} values from {args.devices} devices, "
                f"QoS 1; publisher rate {daemon['publish_rate']:,.0f} msg/s")
    result.emit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
