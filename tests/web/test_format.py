"""How numbers, units and times read on the pages: "352,000", never "3.52e+05"."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.api.web import fmt
from monitor.audit import iso_utc

SCIENTIFIC = re.compile(r"\d[eE][+-]?\d")


@pytest.mark.parametrize(("value", "unit", "shown"), [
    (352_000.0, "particles/m3", "352,000"),
    (3_520_000.0, "particles/m3", "3,520,000"),
    (741.6, "particles/m3", "742"),
    (35.31, "particles/m3", "35"),
    (0.0, "particles/m3", "0"),
    (1589.2, "Pa", "1,589"),
    (741.6, "Pa", "741.6"),
    (12.5, "Pa", "12.50"),
    (36.93, "degC", "36.93"),
    (0.953, "Pa", "0.953"),
    (0.0117, "%", "0.0117"),
    (-0.001, "degC", "-0.00100"),
    (-0.0, "degC", "0.00"),
    (None, "Pa", "—"),
    (math.nan, "Pa", "—"),
    (math.inf, "Pa", "—"),
])
def test_reading_values(value: float | None, unit: str, shown: str) -> None:
    assert fmt.fmt_value(value, unit) == shown


@pytest.mark.parametrize(("value", "unit", "shown"), [
    (352_000.0, "particles/m3", "352,000"),
    (176_000.0, "particles/m3", "176,000"),
    (2930.0, "particles/m3", "2,930"),
    (29.3, "particles/m3", "29.3"),
    (1000.0, "particles/m3", "1,000"),
    (10.0, "Pa", "10"),
    (12.5, "Pa", "12.5"),
    (36.5, "degC", "36.5"),
    (0.05, "Pa", "0.05"),
])
def test_limits_are_written_as_configured(value: float, unit: str, shown: str) -> None:
    assert fmt.fmt_limit(value, unit) == shown


@pytest.mark.parametrize(("ticks", "labels"), [
    ([0.0, 100_000.0, 200_000.0, 300_000.0, 400_000.0],
     ["0", "100,000", "200,000", "300,000", "400,000"]),
    ([0.0, 250_000.0, 500_000.0], ["0", "250,000", "500,000"]),
    ([12.0, 12.5, 13.0, 13.5], ["12.0", "12.5", "13.0", "13.5"]),
    ([36.0, 36.25, 36.5], ["36.00", "36.25", "36.50"]),
    ([-5.0, 0.0, 5.0], ["-5", "0", "5"]),
    ([0.0, 0.002, 0.004], ["0.000", "0.002", "0.004"]),
])
def test_axis_labels_share_their_decimals(ticks: list[float], labels: list[str]) -> None:
    assert fmt.axis_labels(ticks) == labels


@settings(max_examples=300)
@given(st.floats(-1e12, 1e12, allow_nan=False),
       st.sampled_from(["particles/m3", "Pa", "degC", "%RH", "%"]))
def test_no_number_is_ever_in_scientific_notation(value: float, unit: str) -> None:
    for text in (fmt.fmt_value(value, unit), fmt.fmt_limit(value, unit)):
        assert not SCIENTIFIC.search(text), text
        digits = text.replace(",", "")
        assert re.fullmatch(r"-?\d+(\.\d+)?", digits), text
        # grouped in threes from the decimal point
        whole = text.lstrip("-").split(".")[0]
        assert re.fullmatch(r"\d{1,3}(,\d{3})*", whole), text
        assert abs(float(digits) - value) <= max(abs(value) * 1e-3, 0.5 if "particles" in unit
                                                  else 0.006)


@settings(max_examples=200)
@given(st.floats(-1e7, 1e7), st.floats(1e-3, 1e7))
def test_axis_labels_of_nice_ticks_are_distinct_and_plain(low: float, span: float) -> None:
    from monitor.api.web.charts import nice_ticks

    labels = fmt.axis_labels(nice_ticks(low, low + span))
    assert len(set(labels)) == len(labels), labels
    assert not any(SCIENTIFIC.search(label) for label in labels), labels


@pytest.mark.parametrize(("unit", "shown"), [
    ("particles/m3", "particles/m³"), ("degC", "°C"), ("m3/h", "m³/h"), ("Pa", "Pa"),
    ("%RH", "%RH"), ("ug/m3", "µg/m³"), ("L", "L"), ("", ""),
])
def test_units_are_displayed_with_symbols(unit: str, shown: str) -> None:
    assert fmt.display_unit(unit) == shown


def test_quantities_read_as_words() -> None:
    assert fmt.quantity_label("particles_0_5um") == "particles ≥0.5 µm"
    assert fmt.quantity_label("particles_5_0um") == "particles ≥5.0 µm"
    assert fmt.quantity_label("differential_pressure") == "differential pressure"
    assert fmt.quantity_label("co2") == "CO₂"


def test_limits_text_groups_and_pairs_limits() -> None:
    assert fmt.limits_text({"high_alert": 176_000.0, "high_action": 352_000.0},
                           "particles/m3") == "alert ≤ 176,000, action ≤ 352,000"
    assert fmt.limits_text({"low_alert": 17.0, "high_alert": 23.0, "low_action": 15.0,
                            "high_action": 25.0}, "degC") == "alert 17 – 23, action 15 – 25"
    assert fmt.limits_text({"low_alert": 12.0, "low_action": 10.0}, "Pa") == \
        "alert ≥ 12, action ≥ 10"
    assert fmt.limits_text(None) == "—"


def test_times_are_utc_and_round_trip() -> None:
    ts = 1_795_661_121_123_456_789  # 2026-11-26 02:45:21.123456789 UTC
    assert fmt.fmt_time(ts) == "2026-11-26 02:45:21 UTC"
    assert fmt.fmt_clock(ts) == "02:45:21"
    assert fmt.ns_of_iso(iso_utc(ts)) == ts
    assert fmt.fmt_span(ts, ts + 90 * 10**9) == "2026-11-26 02:45:21 – 02:46:51 UTC"
    assert fmt.fmt_span(ts, ts + 86_400 * 10**9) == \
        "2026-11-26 02:45:21 – 2026-11-27 02:45:21 UTC"
    assert fmt.fmt_span(ts, None) == "2026-11-26 02:45:21 UTC – ongoing"
    assert fmt.fmt_span(ts, ts + 39 * 10**9, duration=True) == \
        "2026-11-26 02:45:21 – 02:46:00 UTC (39 s)"
    assert fmt.fmt_duration(45) == "45 s"
    assert fmt.fmt_duration(3 * 3600 + 300) == "3 h 05 min"
