"""The collectors read runtime state at scrape time and produce lint-clean exposition."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import LoadedConfig
from monitor.drivers.base import POLL_BUCKETS, DeviceBinding, Driver
from monitor.metrics.registry import build_registry, render
from monitor.model import Quality, Reading
from monitor.pipeline import Pipeline
from monitor.runtime import Runtime
from tests.fixtures.prometheus import promtool_check_metrics
from tests.metrics.site import load_site

T0 = 1_700_000_000_000_000_000


class IdleDriver(Driver):
    """A driver whose status the test sets; the collectors only read ``status``."""

    async def run(self) -> None:
        await asyncio.Event().wait()


def _runtime(loaded: LoadedConfig) -> Runtime:
    cfg = loaded.config
    bindings = [DeviceBinding(d, cfg.profiles[d.profile], tuple(loaded.device_channels(d)))
                for d in cfg.devices]
    pipeline = Pipeline([])
    driver = IdleDriver(cfg.connections[0], bindings, pipeline.ingest)
    return Runtime(loaded, pipeline, [driver], [])


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def _find(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> list[float]:
    want = set(labels.items())
    return [v for (n, lbl), v in samples.items() if n == name and want <= lbl]


def _scrape(runtime: Runtime, registry: object) -> str:
    body, content_type = render(registry, None)  # type: ignore[arg-type]
    assert content_type.startswith("text/plain")
    return body.decode()


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    return _runtime(load_site(tmp_path))


def _ingest(runtime: Runtime, readings: Sequence[Reading]) -> None:
    runtime.pipeline.ingest(readings)


def test_latest_values_are_exported_in_base_units(runtime: Runtime) -> None:
    registry = build_registry(runtime)
    _ingest(runtime, [
        Reading("dp1/dp", 0.15, Quality.GOOD, T0),
        Reading("th1/rh", 45.0, Quality.GOOD, T0),
        Reading("th1/t", 21.5, Quality.GOOD, T0),
        Reading("pc1/p50", 2.0, Quality.GOOD, T0),
        Reading("pc1/p05", 3000.0, Quality.GOOD, T0),
        Reading("th1/lux", 500.0, Quality.GOOD, T0),
    ])
    s = _samples(_scrape(runtime, registry))
    assert _find(s, "cleanroom_reading_pascals", channel="dp1/dp", location="fill-1",
                 grade="A", quantity="differential_pressure") == [pytest.approx(15.0)]
    assert _find(s, "cleanroom_reading_ratio", channel="th1/rh") == [pytest.approx(0.45)]
    assert _find(s, "cleanroom_reading_celsius", channel="th1/t", room="corridor") == [21.5]
    assert _find(s, "cleanroom_reading_particles_per_cubic_meter", channel="pc1/p50",
                 size_um="5.0") == [pytest.approx(70.63, rel=1e-3)]
    assert _find(s, "cleanroom_reading_particles_per_cubic_meter", channel="pc1/p05",
                 size_um="0.5") == [3000.0]
    assert _find(s, "cleanroom_reading", channel="th1/lux", unit="lx") == [500.0]
    assert _find(s, "cleanroom_readings_total") == [6.0]


def test_quality_and_last_good_time(runtime: Runtime) -> None:
    registry = build_registry(runtime)
    _ingest(runtime, [Reading("dp1/dp", 0.1, Quality.GOOD, T0)])
    _ingest(runtime, [Reading("dp1/dp", None, Quality.COMM_ERROR, T0 + 5_000_000_000,
                              detail="timeout")])
    s = _samples(_scrape(runtime, registry))
    assert _find(s, "cleanroom_reading_quality", channel="dp1/dp", quality="comm_error") == [1.0]
    assert _find(s, "cleanroom_reading_quality", channel="dp1/dp") == [1.0]  # one series
    assert _find(s, "cleanroom_reading_timestamp_seconds", channel="dp1/dp") == [
        pytest.approx(T0 / 1e9 + 5)]
    assert _find(s, "cleanroom_reading_last_good_timestamp_seconds", channel="dp1/dp") == [
        pytest.approx(T0 / 1e9)]
    # no value while the device does not answer: the series goes stale instead of lying
    assert _find(s, "cleanroom_reading_pascals", channel="dp1/dp") == []
    # channels never read are absent rather than zero
    assert _find(s, "cleanroom_reading_timestamp_seconds", channel="th1/t") == []


def test_device_health_and_poll_durations_accumulate_across_scrapes(runtime: Runtime) -> None:
    registry = build_registry(runtime)
    status = runtime.drivers[0].status
    status["pc1"].record_success(T0, 0.004)
    status["pc1"].record_success(T0 + 1, 0.030)
    status["dp1"].record_failure("timeout", "no answer", 1.0)
    s = _samples(_scrape(runtime, registry))
    assert _find(s, "cleanroom_device_up", device="pc1", connection="gw1",
                 driver="modbus_tcp", location="fill-1") == [1.0]
    assert _find(s, "cleanroom_device_up", device="dp1") == [0.0]
    assert _find(s, "cleanroom_device_poll_errors_total", device="dp1", kind="timeout") == [1.0]
    assert _find(s, "cleanroom_device_poll_failures_total", device="dp1") == [1.0]
    assert _find(s, "cleanroom_device_poll_failures_total", device="pc1") == [0.0]
    assert _find(s, "cleanroom_device_polls_total", device="pc1") == [2.0]
    assert _find(s, "cleanroom_device_poll_seconds_total", device="pc1") == [
        pytest.approx(0.034)]
    assert _find(s, "cleanroom_device_poll_seconds_total", device="dp1") == [1.0]
    # the distribution is one histogram per driver kind, summed over its devices
    assert _find(s, "cleanroom_device_poll_duration_seconds_bucket", device="pc1") == []
    assert _find(s, "cleanroom_device_poll_duration_seconds_bucket", driver="modbus_tcp",
                 le="0.005") == [1.0]
    assert _find(s, "cleanroom_device_poll_duration_seconds_bucket", driver="modbus_tcp",
                 le="1.0") == [3.0]
    assert _find(s, "cleanroom_device_poll_duration_seconds_count", driver="modbus_tcp") == [
        3.0]
    status["pc1"].record_success(T0 + 2, 0.002)
    s = _samples(_scrape(runtime, registry))
    assert _find(s, "cleanroom_device_poll_duration_seconds_count", driver="modbus_tcp") == [
        4.0]
    assert _find(s, "cleanroom_device_poll_duration_seconds_bucket", driver="modbus_tcp",
                 le="0.005") == [2.0]
    assert _find(s, "cleanroom_device_poll_duration_seconds_bucket", driver="modbus_tcp",
                 le="+Inf") == [4.0]
    assert _find(s, "cleanroom_device_poll_duration_seconds_sum", driver="modbus_tcp") == [
        pytest.approx(1.036)]
    assert _find(s, "cleanroom_device_poll_seconds_total", device="pc1") == [
        pytest.approx(0.036)]
    assert _find(s, "cleanroom_device_last_success_timestamp_seconds", device="pc1") == [
        pytest.approx((T0 + 2) / 1e9)]


def test_poll_durations_are_bounded_without_scrapes(runtime: Runtime) -> None:
    """A daemon nobody scrapes keeps the same few counters per device, however long it runs."""
    status = runtime.drivers[0].status["pc1"]
    for i in range(50_000):
        status.record_success(T0 + i, (i % 1000) * 1e-3)
    assert len(status.poll_buckets) == len(POLL_BUCKETS) + 1
    assert sum(status.poll_buckets) == status.poll_count == 50_000
    assert status.poll_buckets[0] == 100  # 0 and 1 ms, 50 times each: le 0.001
    assert status.poll_buckets[-1] == 0  # nothing above 10 s
    assert status.poll_seconds == pytest.approx(50 * sum(i * 1e-3 for i in range(1000)))
    assert status.last_poll_seconds == pytest.approx(0.999)


@pytest.mark.parametrize("duration", [0.0, 0.001, 0.00100001, 0.01, 10.0, 10.5])
def test_a_duration_on_a_bound_counts_in_that_bucket(runtime: Runtime, duration: float) -> None:
    status = runtime.drivers[0].status["pc1"]
    status.record_success(T0, duration)
    index = status.poll_buckets.index(1)
    assert duration <= (POLL_BUCKETS[index] if index < len(POLL_BUCKETS) else float("inf"))
    assert index == 0 or duration > POLL_BUCKETS[index - 1]


def test_device_series_stay_few_per_device(runtime: Runtime) -> None:
    """/metrics grows by six series per device; the poll histogram is per driver kind."""
    registry = build_registry(runtime)
    statuses = runtime.drivers[0].status
    for i, status in enumerate(statuses.values()):
        for k in range(20):
            status.record_success(T0 + k, 0.001 * (i + k))
    samples = [(n, lbl) for n, lbl in _samples(_scrape(runtime, registry))
               if n.startswith("cleanroom_device_")]
    per_device = [n for n, lbl in samples if ("device", "pc1") in lbl]
    assert sorted(per_device) == sorted([
        "cleanroom_device_up", "cleanroom_device_polls_total",
        "cleanroom_device_poll_failures_total", "cleanroom_device_poll_overruns_total",
        "cleanroom_device_last_success_timestamp_seconds",
        "cleanroom_device_poll_seconds_total"])
    histogram = [n for n, lbl in samples if n.startswith("cleanroom_device_poll_duration")]
    assert len(histogram) == len(POLL_BUCKETS) + 3  # buckets with +Inf, _sum, _count
    assert len(samples) == 6 * len(statuses) + len(histogram)


def test_config_and_build_info(runtime: Runtime) -> None:
    registry = build_registry(runtime)

    class FakeService:  # the two counters monitor.service.Service keeps
        reloads_ok = 2
        reloads_failed = 1

    runtime.extras["service"] = FakeService()
    s = _samples(_scrape(runtime, registry))
    assert _find(s, "cleanroom_config_info", sha256=runtime.loaded.sha256) == [1.0]
    assert _find(s, "cleanroom_config_reloads_total", result="success") == [2.0]
    assert _find(s, "cleanroom_config_reloads_total", result="failure") == [1.0]
    assert len(_find(s, "cleanroom_build_info")) == 1


def test_exposition_passes_promtool(runtime: Runtime) -> None:
    registry = build_registry(runtime)
    _ingest(runtime, [Reading(cid, 1.0, Quality.GOOD, T0) for cid in runtime.loaded.channels])
    runtime.drivers[0].status["pc1"].record_success(T0, 0.01)
    runtime.drivers[0].status["dp1"].record_failure("timeout", "x", 1.0)
    text = _scrape(runtime, registry)
    assert promtool_check_metrics(text) == []


def test_fast_text_encoder_matches_the_library(runtime: Runtime) -> None:
    from prometheus_client.exposition import generate_latest

    registry = build_registry(runtime)
    _ingest(runtime, [Reading(cid, 1.5, Quality.GOOD, T0) for cid in runtime.loaded.channels])
    runtime.drivers[0].status["pc1"].record_success(T0, 0.01)
    registry.prepare()
    ours = text_string_to_metric_families(registry.text.encode(registry).decode())
    registry.prepare()
    theirs = text_string_to_metric_families(generate_latest(registry).decode())

    def norm(families: object) -> set[tuple[object, ...]]:
        return {(f.name, f.type, f.documentation, s.name, tuple(sorted(s.labels.items())),
                 s.value) for f in families for s in f.samples  # type: ignore[attr-defined]
                if not s.name.startswith(("process_", "python_"))}

    assert norm(ours) == norm(theirs)


def test_openmetrics_is_served_when_asked(runtime: Runtime) -> None:
    registry = build_registry(runtime)
    body, content_type = render(registry, "application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.decode().rstrip().endswith("# EOF")


def test_fast_openmetrics_matches_the_library(runtime: Runtime) -> None:
    from prometheus_client.openmetrics.exposition import generate_latest as om_latest
    from prometheus_client.openmetrics.parser import (
        text_string_to_metric_families as om_families,
    )

    registry = build_registry(runtime)
    _ingest(runtime, [Reading(cid, 2.5, Quality.GOOD, T0) for cid in runtime.loaded.channels])
    runtime.drivers[0].status["dp1"].record_failure("timeout", "x", 1.0)
    registry.prepare()
    body, content_type = render(registry, "application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    registry.prepare()
    theirs = om_latest(registry).decode()

    def norm(text: str) -> set[tuple[object, ...]]:
        return {(f.name, f.type, f.documentation, s.name, tuple(sorted(s.labels.items())),
                 s.value) for f in om_families(text) for s in f.samples
                if not s.name.startswith(("process_", "python_"))}

    assert norm(body.decode()) == norm(theirs)


def test_gzip_answer_is_the_same_text(runtime: Runtime) -> None:
    import zlib

    registry = build_registry(runtime)
    _ingest(runtime, [Reading(cid, 3.0, Quality.GOOD, T0) for cid in runtime.loaded.channels])
    registry.prepare()
    plain, _ = render(registry, None)
    registry.prepare()
    packed, content_type = render(registry, None, gzip=True)
    assert content_type.startswith("text/plain; version=0.0.4")
    unpacked = zlib.decompress(packed, 31)
    strip = lambda text: [ln for ln in text.decode().splitlines()  # noqa: E731
                          if not ln.startswith("process_")]
    assert strip(unpacked) == strip(plain)
    assert len(packed) < len(plain) / 3


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.tuples(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
    st.text(max_size=6),
    st.floats(allow_nan=False) | st.sampled_from([float("inf"), float("-inf"), 0.0, -0.0,
                                                  1e6, 123456789.0, 1e-9])),
    min_size=1, max_size=8))
def test_series_family_lines_parse_back(values: list[tuple[str, str, float]]) -> None:
    """Label values of any text (quotes, backslashes, newlines) and any float survive both
    formats as the library's parsers read them."""
    from prometheus_client.openmetrics.parser import (
        text_string_to_metric_families as om_families,
    )

    from monitor.metrics.encode import SeriesFamily, TextEncoder, label_part

    family = SeriesFamily("x_reading", "help with \\ and \"quotes\"\nand a newline", ("a",),
                          extra="q")
    for i, (a, q, v) in enumerate(values):
        labels = (f"{i}:{a}",)
        family.add(label_part(("a",), labels), v, q)
    want = {(f"{i}:{a}", q, v) for i, (a, q, v) in enumerate(values)}
    text = b"".join(TextEncoder().chunks([family])).decode()
    (parsed,) = text_string_to_metric_families(text)
    assert {(s.labels["a"], s.labels["q"], s.value) for s in parsed.samples} == want
    om = b"".join(TextEncoder().chunks([family], openmetrics=True)).decode()
    (parsed,) = om_families(om)
    assert {(s.labels["a"], s.labels["q"], s.value) for s in parsed.samples} == want
    assert {(s.labels["a"], s.labels["q"], s.value) for s in family.samples} == want


@pytest.mark.parametrize(("header", "gzip"), [
    ("gzip", True), ("gzip, deflate", True), ("br, gzip;q=1.0", True), ("gzip;q=0.5", True),
    ("*", True), ("deflate, gzip;q=0", False), ("identity", False), ("", False)])
def test_scrape_is_gzipped_only_when_the_scraper_accepts_it(header: str, gzip: bool) -> None:
    from monitor.api.routes.health import accepts_gzip

    assert accepts_gzip(header) is gzip
