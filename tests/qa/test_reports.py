"""Reports from recorded readings and alarm events: content, plots, figures, refusals."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.qa.context import QAContext, open_qa
from monitor.reports.build import build_report
from monitor.reports.generate import write_report
from monitor.reports.html import render_html
from monitor.reports.limits import Limits
from monitor.reports.model import EmptyReport
from monitor.reports.plot import excursion_svg
from monitor.reports.stats import GapSpan
from monitor.reports.tabular import render_csv, render_json
from tests.audit.sitecfg import write_config
from tests.users.conftest import fast_hasher

from .conftest import PASSWORD, make_user
from .events import T0, S
from .scenario import END, NOW, record


@pytest.fixture
async def ctx(tmp_path: Path) -> Iterator[QAContext]:  # type: ignore[misc]
    loaded = await record(tmp_path)
    with open_qa(loaded, hasher=fast_hasher()) as qa:
        yield qa


def excursions(ctx: QAContext, **kw: object):  # type: ignore[no-untyped-def]
    return build_report(ctx.report_sources(), "excursions", T0, END, location=None,
                        generated_by="qa1", now_ns=NOW, **kw)  # type: ignore[arg-type]


def test_excursion_report_content(ctx: QAContext) -> None:
    report = excursions(ctx)
    assert [i.excursion.id for i in report.excursions] == ["1", "2"]
    assert report.header.integrity == {"audit trail": "ok", "excursion review log": "ok",
                                       "alarm event log": "ok"}
    assert report.header.config_sha256 == ctx.loaded.sha256
    assert report.readings == 800
    first = report.excursions[0]
    assert first.unit == "particles/m3"
    assert first.readings > 30
    svg = first.plot_svg
    assert svg is not None
    assert svg.startswith("<svg")
    # both limits drawn (legend text is kept as text), the window shaded, the peak marked
    assert "action limit 352,000 particles/m3" in svg
    assert "alert limit 300,000 particles/m3" in svg
    assert "excursion" in svg
    assert "peak 520,000" in svg


def test_plot_breaks_the_line_at_gaps(ctx: QAContext) -> None:
    """A window spanning the device-offline stretch draws two line pieces, not a bridge."""
    assert ctx.history is not None
    result = ctx.history.query("pc1/p05", from_ns=T0 + 1000 * S, to_ns=T0 + 2500 * S)
    svg = excursion_svg(result.samples, title="t", unit="u", window=(T0 + 1000 * S,
                        T0 + 2500 * S), excursion=(T0 + 1200 * S, T0 + 1300 * S),
                        level="action", limits=Limits(high_action=352000.0),
                        gaps=[GapSpan(T0 + 1500 * S, T0 + 1800 * S, "device_offline")],
                        hold_ns=20 * S)
    # the value line is split into two sub-paths ("M" moves) by the NaN at the gap
    line = re.search(r'<g id="line2d_\d+">\s*<path d="([^"]+)"[^>]*style="[^"]*stroke: #1f4e99',
                     svg)
    assert line is not None
    assert line.group(1).count("M") == 2
    assert "no data" in svg


def test_html_is_self_contained_and_shows_signatures(ctx: QAContext) -> None:
    qa1 = make_user(ctx.users, "qa1", "qa", "Quentin Assurance")
    ctx.review.review(qa1, "1", root_cause="equipment", impact="minor",
                      deviation="DEV-1", comment="door closer broken <b>&</b>")
    ctx.review.close("qa1", PASSWORD, "1", comment="closed")
    html = render_html(excursions(ctx))
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html
    # nothing is fetched: no external scripts, styles, images or fonts
    assert not re.search(r'(src|href)="(https?:|//)', html)
    assert "<link" not in html
    assert not re.search(r"url\((?!#)", html)  # only references inside the page
    assert "Quentin Assurance (qa1) — reviewed" in html
    assert "signature verified" in html
    assert "door closer broken &lt;b&gt;&amp;&lt;/b&gt;" in html
    assert html.count("<svg") == 2
    assert "Plant A Fill-Finish" in html
    assert ctx.loaded.sha256 in html
    assert "device offline" not in html  # excursion reports list daemon gaps only


def test_tampered_review_log_is_flagged_in_the_report(ctx: QAContext) -> None:
    import sqlite3

    qa1 = make_user(ctx.users, "qa1", "qa", "Quentin Assurance")
    ctx.review.review(qa1, "1", root_cause="equipment", impact="minor")
    ctx.review.close("qa1", PASSWORD, "1")
    conn = sqlite3.connect(ctx.log.path, isolation_level=None)
    conn.execute("DROP TRIGGER review_events_no_update")
    conn.execute("""UPDATE review_events SET data = '{"impact":"none","root_cause":"hvac"}'
                    WHERE seq = 1""")
    conn.close()
    report = excursions(ctx)
    assert not report.header.integrity_ok
    assert report.excursions[0].closure_problem is not None
    html = render_html(report)
    assert "Record integrity check failed" in html
    assert "signature NOT valid" in html


def test_period_report_figures(ctx: QAContext) -> None:
    report = build_report(ctx.report_sources(), "period", T0, END, location=None,
                          generated_by="qa1", now_ns=NOW)
    by_channel = {c.channel: c for c in report.channels}
    assert set(by_channel) == {"dp1/dp", "pc1/p05", "pc1/p50"}
    dp = by_channel["dp1/dp"]
    assert (dp.min, dp.max) == (11.5, 15.0)
    assert dp.time_alert_s == pytest.approx(300, abs=10)
    assert dp.time_action_s == 0
    assert dp.coverage == pytest.approx(1.0, abs=0.01)
    pc = by_channel["pc1/p05"]
    assert pc.max == 520000.0
    assert pc.readings == 400
    assert pc.not_good == {"comm_error": 30}
    # beyond 352,000: T0+590..895 (305 s) and T0+2990..4000 (1010 s); alert: between
    assert pc.time_action_s == pytest.approx(305 + 1010, abs=20)
    assert pc.time_alert_s == pytest.approx(0, abs=20)
    assert [g.cause for g in pc.gaps] == ["device_offline"]
    assert pc.gaps[0].seconds == pytest.approx(300, abs=10)
    assert pc.coverage == pytest.approx(3700 / 4000, abs=0.01)
    p50 = by_channel["pc1/p50"]
    assert p50.readings == 0
    assert p50.coverage == 0
    assert [g.cause for g in p50.gaps] == ["no readings"]
    assert [c["device"] for c in report.calibration] == ["dp1", "pc1"]
    assert report.calibration[0]["status"] == "not_set"
    html = render_html(report)
    assert "Time in action" in html
    assert "Calibration (at the end of the period)" in html
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert {r["channel"] for r in rows} == {"dp1/dp", "pc1/p05", "pc1/p50"}
    doc = json.loads(render_json(report))
    assert doc["header"]["kind"] == "period"
    assert len(doc["excursions"]) == 2


def test_location_filter(ctx: QAContext) -> None:
    report = build_report(ctx.report_sources(), "period", T0, END, location="fill-1",
                          generated_by="qa1", now_ns=NOW)
    assert [c.channel for c in report.channels] == ["dp1/dp"]
    assert report.excursions == []


def test_empty_range_is_refused_and_audited(ctx: QAContext, tmp_path: Path) -> None:
    with pytest.raises(EmptyReport, match="no readings and no excursions"):
        write_report(ctx.report_sources(), "excursions", "html", from_ns=T0 - 86400 * S,
                     to_ns=T0 - 3600 * S, location=None, generated_by="qa1", now_ns=NOW,
                     output=tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()
    entry = ctx.trail.entries()[-1]
    assert entry.action == "report.refused"


def test_generation_is_audited_with_the_file_hash(ctx: QAContext, tmp_path: Path) -> None:
    import hashlib

    out = tmp_path / "reports" / "exc.csv"
    written = write_report(ctx.report_sources(), "excursions", "csv", from_ns=T0, to_ns=END,
                           location="fill-2", generated_by="qa1", now_ns=NOW, output=out)
    assert written.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    entry = ctx.trail.entries()[-1]
    assert entry.action == "report.generated"
    assert entry.new_value["sha256"] == written.sha256
    assert entry.new_value["excursions"] == 2
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["id"] for r in rows] == ["1", "2"]
    assert rows[1]["end_utc"] == ""


def test_missing_alarm_log_is_not_reported_as_a_clean_record(tmp_path: Path) -> None:
    loaded = load_config(write_config(tmp_path))
    with open_qa(loaded, hasher=fast_hasher()) as ctx:
        assert any("no alarm event log" in note for note in ctx.notes)
        assert ctx.integrity()["alarm event log"]() is not None
        with pytest.raises(EmptyReport):
            excursions(ctx)
