"""The longer fuzz run: the suite's fuzz properties with many more examples, outcomes counted.

The same strategies and checks as tests/fuzz (config files, Modbus replies
from a raw TCP device, MQTT payloads through Mosquitto, API request bodies
when the API is there), run with larger example counts; every case is
counted by outcome (accepted / rejected with a FILE:LINE error; no error /
errors counted; good / qualified readings / counted problem). A crash, a
hang or an unclear error stops the run with the failing example.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.common import BenchResult

FULL = {"config_bytes": 800, "config_structure": 800, "modbus_replies": 100,
        "mqtt_payloads": 800, "api_bodies": 400}
QUICK = {"config_bytes": 60, "config_structure": 60, "modbus_replies": 8, "mqtt_payloads": 60,
         "api_bodies": 30}


def run_property(name: str, strategy: st.SearchStrategy[Any], check: Callable[[Any], str],
                 examples: int, result: BenchResult) -> None:
    outcomes: collections.Counter[str] = collections.Counter()

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def prop(case: Any) -> None:
        outcomes[check(case)] += 1

    started = time.monotonic()
    prop()
    seconds = time.monotonic() - started
    total = sum(outcomes.values())
    result.tables.setdefault("fuzz", []).append(
        {"target": name, "cases": total, "seconds": round(seconds, 1),
         **{"outcomes": ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))}})
    result.add(f"{name}: cases without crash, hang or unclear error", total, "cases")


def fuzz_config(counts: dict[str, int], result: BenchResult) -> None:
    from tests.fuzz.config_cases import byte_mutation, check_config_bytes, structural_mutation

    run_property("config_bytes", byte_mutation(), check_config_bytes, counts["config_bytes"],
                 result)
    run_property("config_structure", structural_mutation(), check_config_bytes,
                 counts["config_structure"], result)


def fuzz_modbus(counts: dict[str, int], result: BenchResult) -> None:
    from tests.fuzz.modbus_cases import check_outcome, run_script, scripts

    run_property("modbus_replies", scripts, lambda s: check_outcome(asyncio.run(run_script(s))),
                 counts["modbus_replies"], result)


def fuzz_mqtt(counts: dict[str, int], result: BenchResult) -> None:
    from tests.fixtures.mosquitto import Mosquitto
    from tests.fuzz.mqtt_cases import cases, mqtt_harness

    with tempfile.TemporaryDirectory(prefix="bench-fuzz-") as tmp:
        broker = Mosquitto(Path(tmp) / "mosquitto")
        broker.start()
        try:
            with mqtt_harness(broker, Path(tmp)) as harness:
                run_property("mqtt_payloads", cases, lambda c: harness.run_case(*c),
                             counts["mqtt_payloads"], result)
        finally:
            broker.stop()


def fuzz_api(counts: dict[str, int], result: BenchResult) -> None:
    try:
        from tests.fuzz.api_cases import api_harness, bodies
    except ImportError as err:
        result.note(f"API fuzzing not run: {err}")
        return
    with api_harness() as harness:
        run_property("api_bodies", bodies, harness.run_case, counts["api_bodies"], result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", help="comma-separated: config,modbus,mqtt,api")
    args = parser.parse_args(argv)
    counts = QUICK if args.quick else FULL
    result = BenchResult("fuzz_long", args.quick)
    chosen = args.only.split(",") if args.only else ["config", "modbus", "mqtt", "api"]
    runners = {"config": fuzz_config, "modbus": fuzz_modbus, "mqtt": fuzz_mqtt,
               "api": fuzz_api}
    for name in chosen:
        runners[name](counts, result)
    result.emit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
