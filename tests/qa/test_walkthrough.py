"""The QA walk-through end to end: a daemon polling simulators raises a DP excursion, an
operator acknowledges it with a signature over the API, QA reviews and closes it with a
signature on the CLI, the HTML report carries the excursion, its plot (both limits) and both
signatures, and every hash-chained record verifies."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest

from monitor.audit import iso_utc
from monitor.cli.main import main
from monitor.model import utc_now_ns
from tests.api.daemon import DP_ALARM, PASSWORD, running_daemon


def cli(monkeypatch: pytest.MonkeyPatch, argv: list[str], stdin: str = "") -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return main(argv)


async def test_excursion_to_signed_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    started = utc_now_ns()
    async with running_daemon(tmp_path) as site:
        alarm = await site.dp_alarm()  # the DP transmitter reads 5 Pa: below 10 Pa action
        client, csrf = await site.login("olivia")
        url = f"/api/v1/alarms/{alarm.alarm_id}/acknowledge"
        async with client.post(url, json={"reason": "airlock door held open",
                                          "password": PASSWORD},
                               headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200, await r.text()
        site.force_dp(None)  # pressure back to 15 Pa; the latched alarm waits for a reset
        await site.wait_for(lambda: any(a.point == DP_ALARM and a.state == "rtn_unack"
                                        for a in site.runtime.alarms.active()),
                            what="return to normal")
        async with client.post(url, json={"reason": "pressure restored, reset",
                                          "password": PASSWORD},
                               headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200, await r.text()

        c = ["-c", str(site.config_path)]
        exc_id = str(alarm.alarm_id)
        assert cli(monkeypatch, ["excursions", "review", *c, exc_id, "--user", "quinn",
                                 "--root-cause", "personnel", "--impact", "none",
                                 "--deviation", "DEV-1", "--comment", "door held open",
                                 "--password-stdin"], PASSWORD + "\n") == 0
        assert cli(monkeypatch, ["excursions", "close", *c, exc_id, "--user", "olivia",
                                 "--password-stdin"], PASSWORD + "\n") == 1  # not QA
        assert cli(monkeypatch, ["excursions", "close", *c, exc_id, "--user", "quinn",
                                 "--password-stdin"], PASSWORD + "\n") == 0
        store = site.runtime.stores[0]
        await site.wait_for(lambda: store.pending == 0, what="readings committed")
        report = tmp_path / "report.html"
        capsys.readouterr()
        assert cli(monkeypatch, ["report", "excursions", *c, "--from", iso_utc(started),
                                 "--to", iso_utc(utc_now_ns() + 1), "--location", "fill-1",
                                 "-o", str(report)]) == 0, capsys.readouterr().err
        for log in ("audit", "alarms"):
            assert cli(monkeypatch, [log, "verify", *c]) == 0

    html = report.read_text()
    article = html[html.index(f'id="excursion-{exc_id}"'):]
    article = article[:article.index("</article>")]
    assert "dp1/dp" in article
    svg = article[article.index("<svg"):article.index("</svg>")]
    assert "action limit 10 Pa" in svg
    assert "alert limit 12 Pa" in svg
    assert re.search(r"Olivia Operator.*acknowledged.*signature verified", article)
    assert "Quinn Quality (quinn) — reviewed" in article
    assert article.count("signature verified") >= 2
    assert "Record integrity check failed" not in html
