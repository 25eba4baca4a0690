"""The Grafana dashboards and provisioning, checked against a real Prometheus.

One daemon polls simulators (particle counter, DP, T/RH) with a DP action
alarm raised, an InfluxDB sink and a webhook notifier that cannot be reached
(so outbox and notifier-failure series exist); a real Prometheus scrapes it
every second. Every PromQL expression of every dashboard, with Grafana's
variables filled in, must run without error or warning and return data.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.api.daemon import Daemon, running_daemon
from tests.fixtures.ports import free_port
from tests.fixtures.prometheus import PrometheusServer, promtool_check_metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
PROVISIONING = ROOT / "grafana" / "provisioning"
VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}


def _dashboards() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in DASHBOARDS}


def _targets(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            out.append((f"{dashboard['uid']}/{panel['title']}/{target['refId']}",
                        target["expr"]))
    return out


def fill(expr: str, variables: list[str]) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    for name in variables:
        expr = expr.replace(f"${name}", ".*").replace(f"${{{name}}}", ".*")
    assert "$" not in expr, expr
    return expr


def test_dashboards_are_well_formed() -> None:
    assert {p.stem for p in DASHBOARDS} == {"site-overview", "particle-trends",
                                            "pressure-cascade", "device-health"}
    yaml = YAML(typ="safe")
    datasources = yaml.load((PROVISIONING / "datasources" / "cleanroom.yaml").read_text())
    uids = {d["uid"]: d["type"] for d in datasources["datasources"]}
    assert uids == {"cleanroom-prometheus": "prometheus", "cleanroom-influxdb": "influxdb"}
    providers = yaml.load((PROVISIONING / "dashboards" / "cleanroom.yaml").read_text())
    assert providers["providers"][0]["type"] == "file"
    seen_uids = set()
    for name, dash in _dashboards().items():
        assert dash["uid"] not in seen_uids
        seen_uids.add(dash["uid"])
        ids = [p["id"] for p in dash["panels"]]
        assert len(ids) == len(set(ids)), name
        for panel in dash["panels"]:
            assert panel["datasource"]["uid"] in uids, (name, panel["title"])
            assert panel["targets"], (name, panel["title"])
            assert panel["description"], (name, panel["title"])
        for var in dash["templating"]["list"]:
            assert var["datasource"]["uid"] in uids
        for ref, expr in _targets(dash):
            for used in re.findall(r"\$(\w+)", expr):
                assert f"${used}" in VARIABLES or used in {
                    v["name"] for v in dash["templating"]["list"]}, (ref, used)


EXTRA = """\
storage:
  sinks:
    - {{name: influx, type: influxdb_v1, url: "http://127.0.0.1:{dead}", database: cleanroom}}
notify:
  notifiers:
    - {{name: hook, kind: webhook, url: "http://127.0.0.1:{dead}/alarm"}}
  routes:
    - {{name: everything, notifiers: [hook]}}
"""


@pytest.mark.slow
async def test_every_dashboard_query_returns_data(
        tmp_path: Path, prometheus_factory: Any) -> None:
    extra = EXTRA.format(dead=free_port())
    async with running_daemon(tmp_path, extra=extra, users=False,
                              particle_sample_s=2) as site:
        await site.dp_alarm()
        await site.wait_for(lambda: "pc1/p0_5um" in site.runtime.pipeline.latest,
                            timeout=15, what="a particle counter record")
        client = site.client()
        async with client.get("/metrics") as r:
            exposition = await r.text()
        assert promtool_check_metrics(exposition) == []
        prom: PrometheusServer = await asyncio.to_thread(
            prometheus_factory, [site.url.removeprefix("http://")], scrape_interval="1s")
        # the Prometheus client calls block: they run in a thread so the daemon, on this
        # event loop, keeps answering the scrapes
        await asyncio.to_thread(_check_daemon_values, site, prom)
        await asyncio.to_thread(prom.wait_for,
                                "rate(cleanroom_device_poll_duration_seconds_count[1m]) > 0")
        failures = await asyncio.to_thread(_run_all_queries, prom)
        assert failures == []


def _run_all_queries(prom: PrometheusServer) -> list[str]:
    failures = []
    for dash in _dashboards().values():
        variables = [v["name"] for v in dash["templating"]["list"]]
        for var in dash["templating"]["list"]:
            _check_variable(prom, var["query"]["query"])
        for ref, expr in _targets(dash):
            try:
                result = prom.query(fill(expr, variables))
            except AssertionError as err:
                failures.append(f"{ref}: {err}")
                continue
            if not result:
                failures.append(f"{ref}: no data for {expr}")
    return failures


def _check_daemon_values(site: Daemon, prom: PrometheusServer) -> None:
    """The Done-when of the issue: channel values and alarm states through PromQL."""
    dp = prom.wait_for('cleanroom_reading_pascals{channel="dp1/dp"}')
    assert float(dp[0]["value"][1]) == pytest.approx(5.0)
    assert dp[0]["metric"]["location"] == "fill-1"
    assert dp[0]["metric"]["grade"] == "A"
    # alarms are counted by location, level and priority (a series per alarm point is opt-in:
    # http.metrics_alarm_points); the raised action alarm is active and unacknowledged
    for family in ("cleanroom_location_alarms_active", "cleanroom_location_alarms_unacknowledged"):
        state = prom.query(f'{family}{{location="fill-1",level="action",priority="critical"}}')
        assert float(state[0]["value"][1]) >= 1.0, family
    level = prom.query('cleanroom_location_alarm_level{location="fill-1"}')
    assert float(level[0]["value"][1]) == 2.0  # action
    count = prom.query('cleanroom_alarms_active{priority="critical"}')
    assert float(count[0]["value"][1]) >= 1.0
    temperature = prom.query('cleanroom_reading_celsius{channel="th1/temperature"}')
    latest = site.runtime.pipeline.latest["th1/temperature"].value
    assert latest is not None
    assert float(temperature[0]["value"][1]) == pytest.approx(latest, abs=1.0)
    rh = prom.query('cleanroom_reading_ratio{channel="th1/rh"}')
    assert 0.0 < float(rh[0]["value"][1]) < 1.0  # %RH exported as a ratio


def _check_variable(prom: PrometheusServer, query: str) -> None:
    match = re.fullmatch(r"label_values\((.+), (\w+)\)", query)
    assert match, query
    series, label = match.groups()
    values = prom.api(f"/api/v1/label/{label}/values", **{"match[]": series})
    assert values, query
