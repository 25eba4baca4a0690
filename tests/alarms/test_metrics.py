"""The alarm engine's own counters as Prometheus metrics, through a real runtime and registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.metrics.registry import build_registry, render
from monitor.model import Quality, Reading, utc_now_ns
from monitor.runtime import Runtime, build_runtime
from tests.fixtures.prometheus import promtool_check_metrics

from .site import limits, site

S = 1_000_000_000


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    loaded = site(tmp_path, alarms=limits({"channel": "th1/t", "high_action": 25.0},
                                          require_signature_for_action=False))
    rt = build_runtime(loaded, with_http=False)
    yield rt
    rt.alarms.close()


def scrape(runtime: Runtime, registry: object) -> dict[tuple[str, frozenset[tuple[str, str]]],
                                                       float]:
    body, _ = render(registry, None)  # type: ignore[arg-type]
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float:
    (found,) = [v for (n, lbl), v in samples.items() if n == name and lbl == frozenset(
        labels.items())]
    return found


def test_engine_counters_are_exported_and_pass_promtool(runtime: Runtime) -> None:
    registry = build_registry(runtime)
    now = utc_now_ns()
    ingest = runtime.pipeline.ingest
    ingest([Reading("th1/t", 20.0, Quality.GOOD, now)])
    ingest([Reading("th1/t", 20.0, Quality.GOOD, now)])  # a duplicate
    ingest([Reading("th1/t", 20.0, Quality.GOOD, now - S // 2)])  # older: out of order
    ingest([Reading("nope/x", 1.0, Quality.GOOD, now)])
    ingest([Reading("th1/t", float("nan"), Quality.GOOD, now + S),
            Reading("th1/rh", None, Quality.COMM_ERROR, now + S, detail="timeout")])
    ingest([Reading("th1/t", 30.0, Quality.GOOD, now + 2 * S)])  # raises the action alarm
    runtime.pipeline.tick(now + 2 * S)
    samples = scrape(runtime, registry)
    assert value(samples, "cleanroom_alarm_readings_evaluated_total") == 4
    assert value(samples, "cleanroom_alarm_readings_ignored_total", reason="out_of_order") == 2
    assert value(samples, "cleanroom_alarm_readings_ignored_total",
                 reason="unknown_channel") == 1
    assert value(samples, "cleanroom_alarm_readings_not_compared_total", reason="bad_value") == 1
    assert value(samples, "cleanroom_alarm_readings_not_compared_total", reason="not_good") == 1
    for name in ("cleanroom_alarm_clock_steps_total", "cleanroom_alarm_readings_held_total",
                 "cleanroom_alarm_readings_restamped_total",
                 "cleanroom_alarm_readings_maintenance_total"):
        assert value(samples, name) == 0
    written = runtime.alarms.written
    assert written >= 2  # the location state at start, the raise
    assert value(samples, "cleanroom_alarm_events_written_total") == written
    assert value(samples, "cleanroom_alarm_events_pending") == 0
    assert value(samples, "cleanroom_alarm_points_live") == len(runtime.alarms.engine.t.lives)
    assert value(samples, "cleanroom_location_alarms_active", site="plant-a", room="fill",
                 location="fill-1", grade="B", level="action", priority="high") == 1
    assert value(samples, "cleanroom_alarms_active", priority="high") == 1
    limit = [v for (n, lbl), v in samples.items() if n == "cleanroom_alarm_limit_celsius"
             and {("channel", "th1/t"), ("level", "action"), ("bound", "high")} <= lbl]
    assert limit == [25.0]
    # a series per alarm point only when asked for (http.metrics_alarm_points)
    assert not [n for n, _ in samples if n == "cleanroom_alarm_active"]
    per_point = scrape(runtime, build_registry(runtime, alarm_points=True))
    assert value(per_point, "cleanroom_alarm_active", point="th1/t:high_action",
                 channel="th1/t", location="fill-1", rule="high_action", level="action",
                 priority="high") == 1
    for checked in (registry, build_registry(runtime, alarm_points=True)):
        body, _ = render(checked, None)
        assert promtool_check_metrics(body.decode()) == []


def test_a_clock_step_and_held_readings_are_counted(runtime: Runtime) -> None:
    """Without the monotonic clock (a fake one) a step back is seen by readings of two devices,
    held until confirmed."""
    registry = build_registry(runtime)
    engine = runtime.alarms.engine
    engine.clock.offset = None  # as if no monotonic clock were observed: the readings decide
    runtime.alarms.monotonic = None
    now = utc_now_ns()
    runtime.pipeline.ingest([Reading(c, 20.0, Quality.GOOD, now) for c in ("th1/t", "pc1/p05")])
    back = now - 3600 * S
    runtime.pipeline.ingest([Reading(c, 20.0, Quality.GOOD, back) for c in ("th1/t", "pc1/p05")])
    samples = scrape(runtime, registry)
    assert value(samples, "cleanroom_alarm_clock_steps_total") == 1
    assert value(samples, "cleanroom_alarm_readings_held_total") == 2
