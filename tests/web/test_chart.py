"""The trend chart as drawn on the server: numbers, shading, legend data, layout."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from types import SimpleNamespace
from typing import Any

from monitor.api.web import charts, marks
from monitor.api.web.charts import trend_chart
from monitor.api.web.fmt import ns_of_iso
from monitor.api.web.spans import EXCURSION_ACTION, GAP, MAINTENANCE, NODATA, Span
from monitor.audit import iso_utc

S = 1_000_000_000
T0 = 1_795_651_200 * S  # 2026-11-26 00:00:00 UTC
SVG = "{http://www.w3.org/2000/svg}"
SCIENTIFIC = re.compile(r"\d[eE][+-]?\d")
LIMITS = {"high_alert": 176_000.0, "high_action": 352_000.0}


def bucket(ts: int, mean: float | None, spread: float = 0.0, count: int = 2) -> dict[str, Any]:
    if mean is None:
        return {"ts_ns": ts, "mean": None, "min": None, "max": None, "good": 0, "count": count}
    return {"ts_ns": ts, "mean": mean, "min": mean - spread, "max": mean + spread,
            "good": count, "count": count}


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def texts(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{SVG}text") if cls in (e.get("class") or "").split()]


def shapes(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def particle_chart(**kw: Any) -> charts.TrendChart:
    points = [bucket(T0 + i * 60 * S, 50_000.0 + i * 7_123.4, 1_500.0) for i in range(60)]
    args: dict[str, Any] = {"start_ns": T0, "end_ns": T0 + 3600 * S, "unit": "particles/m3",
                            "limits": LIMITS, "title": "pc1/p0_5um last 1 h",
                            "step_ns": 60 * S, **kw}
    return trend_chart(points, **args)


def test_particle_counts_read_as_grouped_thousands() -> None:
    chart = particle_chart()
    root = parse(chart.svg)
    every_text = " ".join("".join(e.itertext()) for e in root.iter())
    assert not SCIENTIFIC.search(every_text), every_text
    y_labels = [e.text for e in texts(root, "y-tick")]
    assert y_labels == ["0", "200,000", "400,000", "600,000"]
    limit_labels = sorted(e.text or "" for e in texts(root, "limit-label"))
    assert limit_labels == ["action limit 352,000", "alert limit 176,000"]
    assert next(e.text for e in texts(root, "unit")) == "particles/m³"
    tips = [b[2] for b in chart.hover["buckets"]]
    assert "mean 57,123 particles/m³" in tips[1]
    assert "min 55,623 · max 58,623" in tips[1]
    assert "2 readings, all good" in tips[1]
    assert not any(SCIENTIFIC.search(t) for t in tips)


def test_small_values_keep_sensible_decimals() -> None:
    points = [bucket(T0 + i * 60 * S, 12.5 + (i % 3) * 0.1, 0.05) for i in range(30)]
    chart = trend_chart(points, start_ns=T0, end_ns=T0 + 1800 * S, unit="Pa",
                        limits={"low_alert": 12.0, "low_action": 10.0}, step_ns=60 * S)
    root = parse(chart.svg)
    labels = [e.text or "" for e in texts(root, "y-tick")]
    assert all(re.fullmatch(r"\d+(\.\d)?", label) for label in labels), labels
    assert sorted(e.text or "" for e in texts(root, "limit-label")) == [
        "action limit 10", "alert limit 12"]
    assert "mean 12.50 Pa" in chart.hover["buckets"][0][2]
    temperature = trend_chart([bucket(T0, 36.93, 0.02)], start_ns=T0, end_ns=T0 + 600 * S,
                              unit="degC", limits={"low_action": 36.0, "high_action": 38.0,
                                                   "low_alert": 36.5, "high_alert": 37.5})
    root = parse(temperature.svg)
    assert texts(root, "unit")[0].text == "°C"
    assert sorted(e.text or "" for e in texts(root, "limit-label")) == [
        "high action limit 38", "high alert limit 37.5", "low action limit 36",
        "low alert limit 36.5"]
    assert "mean 36.93 °C" in temperature.hover["buckets"][0][2]


def test_unit_label_sits_clear_of_the_top_tick_label() -> None:
    root = parse(particle_chart().svg)
    unit = texts(root, "unit")[0]
    top_tick = min(float(e.get("y") or 0) for e in texts(root, "y-tick"))
    font = 13
    assert float(unit.get("y") or 0) <= top_tick - font - 2  # a line apart, baselines compared
    assert float(unit.get("x") or 0) >= charts.LEFT  # right of the tick labels' column


def test_limit_labels_never_overlap() -> None:
    chart = trend_chart([bucket(T0, 11.0)], start_ns=T0, end_ns=T0 + 600 * S, unit="Pa",
                        limits={"low_alert": 10.2, "low_action": 10.0, "high_alert": 10.4,
                                "high_action": 10.6})
    ys = sorted(float(e.get("y") or 0) for e in texts(parse(chart.svg), "limit-label"))
    assert all(b - a >= 14 for a, b in itertools.pairwise(ys)), ys


def test_a_record_that_starts_late_is_no_data_not_a_gap() -> None:
    half = T0 + 1800 * S
    points = [bucket(half + i * 60 * S, 15.0, 0.2) for i in range(30)]
    chart = trend_chart(points, start_ns=T0, end_ns=T0 + 3600 * S, unit="Pa", step_ns=60 * S)
    root = parse(chart.svg)
    assert not shapes(root, GAP)  # nothing was lost: nothing was being recorded
    empty = shapes(root, NODATA)
    assert len(empty) == 1
    assert float(empty[0].get("x") or 0) == charts.LEFT
    right = float(empty[0].get("x") or 0) + float(empty[0].get("width") or 0)
    assert abs(right - (charts.LEFT + charts.WIDTH - charts.RIGHT) / 2) < 2
    assert [e.text for e in texts(root, "nodata-label")] == ["no data"]
    assert chart.kinds == {NODATA}
    assert "no readings recorded before 2026-11-26 00:30:00 UTC" in \
        [s[3] for s in chart.hover["spans"]]


def test_recorded_gaps_are_shaded_and_break_the_line() -> None:
    points = [bucket(T0 + i * 60 * S, 15.0, 0.2) for i in range(60) if not 20 <= i < 30]
    gap = Span(GAP, T0 + 20 * 60 * S, T0 + 30 * 60 * S, "daemon stopped")
    chart = trend_chart(points, start_ns=T0, end_ns=T0 + 3600 * S, unit="Pa",
                        spans=[gap], step_ns=60 * S)
    root = parse(chart.svg)
    rects = shapes(root, GAP)
    assert len(rects) == 1
    assert rects[0].find(f"{SVG}title").text == "daemon stopped"  # type: ignore[union-attr]
    assert len(shapes(root, "series")) == 2
    assert not shapes(root, NODATA)  # the gap explains the hole


def test_buckets_without_a_good_reading_are_gaps_unless_under_maintenance() -> None:
    points = [bucket(T0 + i * 60 * S, None if 10 <= i < 20 or 40 <= i < 45 else 20.0)
              for i in range(60)]
    service = Span(MAINTENANCE, T0 + 10 * 60 * S, T0 + 20 * 60 * S, "maintenance of th1")
    chart = trend_chart(points, start_ns=T0, end_ns=T0 + 3600 * S, unit="degC",
                        spans=[service], step_ns=60 * S)
    root = parse(chart.svg)
    assert len(shapes(root, MAINTENANCE)) == 1
    gaps = shapes(root, GAP)
    assert len(gaps) == 1  # 40-45 only, merged into one stretch
    assert "none of good quality" in (gaps[0].find(f"{SVG}title").text or "")  # type: ignore[union-attr]
    assert "2 readings, none good" in chart.hover["buckets"][42][2]


def test_excursions_are_tinted_with_a_strip() -> None:
    exc = Span(EXCURSION_ACTION, T0 + 600 * S, T0 + 900 * S, "alarm 3, high action")
    root = parse(particle_chart(spans=[exc]).svg)
    tinted = shapes(root, EXCURSION_ACTION)
    assert len(tinted) == 2  # the tint and the strip along the top
    assert any("strip" in (e.get("class") or "") for e in tinted)


def test_sparse_records_are_joined_not_dotted() -> None:
    """A counter recording every 10 s, shown in 5 s buckets, is one line."""
    points = [bucket(T0 + i * 10 * S + (S if i % 3 else 0), 700.0 + i) for i in range(90)]
    chart = trend_chart(points, start_ns=T0, end_ns=T0 + 900 * S, unit="particles/m3",
                        step_ns=5 * S)
    root = parse(chart.svg)
    assert len(shapes(root, "series")) == 1
    assert not shapes(root, NODATA)


def test_time_axis_has_round_ticks_for_every_range() -> None:
    for hours, first_labels in ((0.25, ["00:00", "00:02"]), (1, ["00:00", "00:10"]),
                                (6, ["00:00", "01:00"]), (72, ["00:00", "12:00"])):
        end = T0 + int(hours * 3600) * S
        root = parse(trend_chart([], start_ns=T0, end_ns=end, unit="Pa").svg)
        labels = [e.text for e in texts(root, "x-tick")]
        assert labels[:2] == first_labels, (hours, labels)
        assert 4 <= len(labels) <= 10, (hours, labels)
        dates = [e.text for e in texts(root, "date")]
        assert dates[0] == "2026-11-26"
        assert len(dates) == max(1, int(hours // 24) + (1 if hours % 24 == 0 else 0))


def test_recorded_gaps_from_the_history_view() -> None:
    start, end = T0, T0 + 3600 * S
    gaps = [{"scope": "daemon", "cause": "daemon_stopped", "start": iso_utc(T0 + 600 * S),
             "end": iso_utc(T0 + 639 * S), "detail": "clean stop"},
            {"scope": "channel", "cause": "device_offline", "start": iso_utc(T0 + 3000 * S),
             "end": None, "detail": "timeout"}]
    spans = marks.recorded_gaps(gaps, start, end)
    assert [(s.start_ns, s.end_ns) for s in spans] == [(T0 + 600 * S, T0 + 639 * S),
                                                        (T0 + 3000 * S, end)]
    assert spans[0].label == ("2026-11-26 00:10:00 – 00:10:39 UTC (39 s): daemon stopped"
                              " — clean stop")
    assert spans[1].label.endswith("UTC – ongoing: device offline (no answer) — timeout")
    assert ns_of_iso(gaps[0]["start"]) == T0 + 600 * S


def test_an_alarm_raised_again_is_shaded_only_while_beyond_the_limit() -> None:
    def event(kind: str, ts: int, **details: int) -> SimpleNamespace:
        return SimpleNamespace(kind=kind, ts_ns=ts, details=details)

    events = [event("raised", 100, start_ns=90), event("acknowledged", 120),
              event("cleared", 200, end_ns=195), event("raised", 400, start_ns=380)]
    assert marks._beyond(events) == [(90, 195), (380, None)]


def test_a_door_reads_as_its_states() -> None:
    points = [bucket(T0 + i * 60 * S, 1.0 if i == 3 else 0.25 if i == 4 else 0.0)
              for i in range(10)]
    chart = trend_chart(points, start_ns=T0, end_ns=T0 + 600 * S, unit="open",
                        step_ns=60 * S, states=("closed", "open"))
    root = parse(chart.svg)
    assert [e.text for e in texts(root, "y-tick")] == ["closed", "open"]
    assert not texts(root, "unit") or all(e.text == "UTC" for e in texts(root, "unit"))
    assert "open in 25 % of good readings" in chart.hover["buckets"][4][2]


def test_particle_axis_starts_at_zero() -> None:
    points = [bucket(T0 + i * 60 * S, 2_900.0 + i * 10, 50.0) for i in range(10)]
    chart = trend_chart(points, start_ns=T0, end_ns=T0 + 600 * S, unit="particles/m3",
                        limits={"high_alert": 1_760.0, "high_action": 3_520.0})
    labels = [e.text for e in texts(parse(chart.svg), "y-tick")]
    assert labels[0] == "0"
    assert labels[-1] == "4,000"
