"""Maintenance mode and overdue calibration, as the reports show them.

The readings are marked by the real producers (``MaintenanceMarker`` and
``CalibrationMonitor`` through ``HealthChecks.transform``) and evaluated by
the real alarm engine, stored in ``readings.db``; the report must then say,
per channel, how long the channel was in maintenance (not counted as time in
alert or action), list the maintenance stretches, count and describe the
readings of an instrument out of calibration, and shade maintenance in the
excursion plots.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.alarms.attach import HealthChecks
from monitor.alarms.service import build_alarm_service
from monitor.audit import AuditTrail
from monitor.config import LoadedConfig, load_config
from monitor.model import Quality, Reading
from monitor.qa.context import QAContext, open_qa
from monitor.reports.build import build_report
from monitor.reports.html import render_html
from monitor.reports.limits import Limits
from monitor.reports.plot import MAINTENANCE_COLOUR, excursion_svg
from monitor.reports.stats import Span
from monitor.reports.tabular import render_csv, render_json
from monitor.storage.embedded import EmbeddedStore
from monitor.storage.factory import readings_path
from tests.audit.sitecfg import write_config
from tests.users.conftest import fast_hasher

S = 1_000_000_000
# dp1's calibration is valid through 2026-05-28 (site time zone UTC): it expires at midnight
EXPIRES = int(datetime(2026, 5, 29, tzinfo=UTC).timestamp()) * S
T1 = EXPIRES - 3000 * S  # the recording starts 3,000 s before the expiry
END = T1 + 4000 * S
NOW = END + 600 * S
NOTE = "calibration overdue (valid until 2026-05-28, certificate CAL-7)"
MAINT_FROM, MAINT_TO = 1800, 1950  # dp1 in maintenance mode (a zero check: it reads 0 Pa)
DIP_FROM, DIP_TO = 2000, 2300  # 11.5 Pa: below the 12 Pa alert limit, above the 10 Pa action


def dp_value(t: int) -> float:
    if MAINT_FROM <= t < MAINT_TO:
        return 0.0
    return 11.5 if DIP_FROM <= t < DIP_TO else 15.0


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


async def record(folder: Path) -> LoadedConfig:
    """Run 4,000 s of dp1 readings through the marks and the engine, into the store."""
    loaded = load_config(write_config(
        folder, dp1_extra=", calibration_due: '2026-05-28', calibration_certificate: CAL-7"))
    data = Path(loaded.config.data_dir)
    clock = Clock(T1)
    service = build_alarm_service(loaded, clock=clock)
    stored: list[Reading] = []
    with AuditTrail(data, clock=clock) as trail:
        checks = HealthChecks(loaded, service, audit=trail)
        for t in range(0, 4000, 10):
            clock.now = ts = T1 + t * S
            if t == MAINT_FROM:
                service.set_maintenance("dp1", True, "erik", "zero check",
                                        until_ns=T1 + MAINT_TO * S)
            checks.tick(ts)
            service.tick(ts)
            if t == MAINT_FROM + 70:  # the transmitter stops answering once meanwhile
                batch = [Reading("dp1/dp", None, Quality.COMM_ERROR, ts, detail="timeout")]
            else:
                batch = [Reading("dp1/dp", dp_value(t), Quality.GOOD, ts)]
            marked = list(checks.transform(batch))
            service.evaluate(marked)
            stored.extend(marked)
    service.close()
    store = EmbeddedStore(readings_path(data), loaded.channels, clock=lambda: T1,
                          state_of=lambda _loc: "in_operation", site="plant-a")
    store.append(stored)
    await store.close()
    return loaded


@pytest.fixture
async def ctx(tmp_path: Path) -> Iterator[QAContext]:  # type: ignore[misc]
    loaded = await record(tmp_path)
    with open_qa(loaded, hasher=fast_hasher()) as qa:
        yield qa


def period(ctx: QAContext):  # type: ignore[no-untyped-def]
    return build_report(ctx.report_sources(), "period", T1, END, location="fill-1",
                        generated_by="qa1", now_ns=NOW)


def test_the_producers_marked_what_the_report_reads(ctx: QAContext) -> None:
    assert ctx.history is not None
    samples = ctx.history.query("dp1/dp").samples
    maint = [s for s in samples if s.quality == "maintenance"]
    assert len(maint) == 14  # 1800..1940 every 10 s, less the comm error
    assert {s.detail for s in maint} == {"maintenance mode (dp1)"}
    assert [s.detail for s in samples if s.quality == "comm_error"] == [
        "timeout; maintenance mode (dp1)"]
    flagged = [s for s in samples if s.detail == NOTE]
    assert len(flagged) == 100
    assert flagged[0].ts_ns == EXPIRES
    assert all(s.quality == "good" for s in flagged)


def test_period_report_figures(ctx: QAContext) -> None:
    report = period(ctx)
    dp, = report.channels
    assert dp.maintenance_readings == 15  # the comm error in maintenance mode counts too
    assert dp.time_maintenance_s == pytest.approx(150)
    assert dp.maintenance == [Span(T1 + MAINT_FROM * S, T1 + MAINT_TO * S,
                                   "maintenance mode (dp1)")]
    # 0 Pa under maintenance is neither time in action nor the minimum
    assert dp.time_action_s == 0
    assert dp.time_alert_s == pytest.approx(300)
    assert dp.min == 11.5
    assert dp.not_good == {"maintenance": 14, "comm_error": 1}
    assert dp.calibration.readings == 100
    assert (dp.calibration.first_ns, dp.calibration.last_ns) == (EXPIRES, END - 10 * S)
    assert dp.calibration.notes == {NOTE: 100}
    assert any("in maintenance mode during the period (dp1/dp)" in n for n in report.notes)
    assert any("100 good reading(s) of 1 channel(s)" in n for n in report.notes)
    assert [c["status"] for c in report.calibration] == ["overdue"]


def test_period_report_html_csv_json(ctx: QAContext) -> None:
    report = period(ctx)
    html = render_html(report)
    header = re.search(r'<h2>Channels</h2><table class="channels"><tr>(.*?)</tr>',
                       html.replace("\n", ""))
    assert header is not None
    columns = re.findall(r"<th>(.*?)</th>", header.group(1))
    assert columns[7:11] == ["Time in alert", "Time in action", "Time in maintenance", "Gaps"]
    row = html[html.index("<td>dp1/dp</td>"):]
    row = row[:row.index("</tr>")]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    assert cells[6:9] == ["5 min 0 s", "0 s", '<span class="maint">2 min 30 s</span>']
    assert "100 calibration overdue" in cells[2]
    assert ("<b>dp1/dp</b>: 100 of 385 good reading(s) from 2026-05-29 00:00:00Z to "
            "2026-05-29 00:16:30Z were taken while the device&#x27;s calibration was overdue: "
            f"{NOTE}.") in html
    maint = html[html.index("<h2>Maintenance mode in the record</h2>"):]
    maint = maint[:maint.index("</table>")]
    assert re.search(r"<td>dp1/dp</td><td>2026-05-28 23:40:00Z</td><td>2026-05-28 23:42:30Z</td>"
                     r"<td>2 min 30 s</td><td>maintenance mode \(dp1\)</td>", maint)
    row, = csv.DictReader(io.StringIO(render_csv(report)))
    assert (row["time_maintenance_s"], row["maintenance_readings"],
            row["calibration_overdue_readings"]) == ("150.0", "15", "100")
    doc = json.loads(render_json(report))
    channel, = doc["channels"]
    assert channel["maintenance"] == [{"start_ns": T1 + MAINT_FROM * S,
                                       "end_ns": T1 + MAINT_TO * S,
                                       "note": "maintenance mode (dp1)"}]
    assert channel["calibration_overdue"]["readings"] == 100


def test_excursions_show_maintenance_and_calibration(ctx: QAContext) -> None:
    report = build_report(ctx.report_sources(), "excursions", T1, END, location=None,
                          generated_by="qa1", now_ns=NOW)
    by_rule = {i.excursion.rule: i for i in report.excursions}
    # the zero check went below the action limit: recorded, suppressed, and shown as such
    during = by_rule["low_action"]
    assert (during.excursion.start_ns, during.excursion.end_ns) == (
        T1 + MAINT_FROM * S, T1 + MAINT_TO * S)
    assert during.maintenance == [Span(T1 + MAINT_FROM * S, T1 + MAINT_TO * S,
                                       "maintenance mode (dp1)")]
    svg = during.plot_svg or ""
    assert "maintenance mode" in svg
    assert "reading (maintenance mode)" in svg
    assert MAINTENANCE_COLOUR in svg
    assert "calibration overdue" not in svg
    dip = by_rule["low_alert"]
    assert dip.calibration.readings == 0
    html = render_html(report)
    article = html[html.index(f'id="excursion-{during.excursion.id}"'):]
    article = article[:article.index("</article>")]
    assert ('<tr><th>Maintenance (plot window)</th><td class="maint">2026-05-28 23:40:00Z to '
            "2026-05-28 23:42:30Z (2 min 30 s): maintenance mode (dp1)</td></tr>") in article


def test_plot_of_an_excursion_after_the_expiry_marks_flagged_readings(ctx: QAContext) -> None:
    assert ctx.history is not None
    window = (EXPIRES - 300 * S, EXPIRES + 300 * S)
    samples = ctx.history.query("dp1/dp", from_ns=window[0], to_ns=window[1]).samples
    svg = excursion_svg(samples, title="t", unit="Pa", window=window,
                        excursion=(EXPIRES, EXPIRES + 60 * S), level="alert",
                        limits=Limits(low_alert=12.0, low_action=10.0), gaps=[],
                        hold_ns=50 * S)
    assert "calibration overdue" in svg
    assert "maintenance mode" not in svg


def test_plot_breaks_the_line_under_maintenance(ctx: QAContext) -> None:
    """Good readings either side of a maintenance stretch are not joined across it."""
    assert ctx.history is not None
    window = (T1 + 1700 * S, T1 + 2050 * S)
    samples = ctx.history.query("dp1/dp", from_ns=window[0], to_ns=window[1]).samples
    svg = excursion_svg(samples, title="t", unit="Pa", window=window,
                        excursion=(T1 + 1800 * S, T1 + 1950 * S), level="action",
                        limits=Limits(low_action=10.0), gaps=[], hold_ns=50 * S,
                        maintenance=[Span(T1 + 1800 * S, T1 + 1950 * S, "maintenance mode")])
    line = re.search(r'<g id="line2d_\d+">\s*<path d="([^"]+)"[^>]*style="[^"]*stroke: #1f4e99',
                     svg)
    assert line is not None
    assert line.group(1).count("M") == 2
