"""Daemon-level facts: build, loaded config, reloads, notifier deliveries.

``cleanroom_config_info`` carries the SHA-256 of the loaded configuration so
that a dashboard or an alert can tell which validated config was in force
when; reload counters come from ``monitor.service.Service``.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor import __version__
from monitor.eventloop import running_loop_name
from monitor.runtime import Runtime


class ServiceCollector(Collector):
    def __init__(self, runtime: Runtime, started_ns: int) -> None:
        self._runtime = runtime
        self._started_ns = started_ns

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield InfoMetricFamily("cleanroom_build", "Version of the running daemon",
                               value={"version": __version__,
                                      "python_version": platform.python_version(),
                                      "event_loop": running_loop_name()})
        loaded = self._runtime.loaded
        info = GaugeMetricFamily("cleanroom_config_info", "The configuration in force (1); "
                                 "sha256 identifies the validated config file",
                                 labels=("sha256", "path", "site"))
        info.add_metric((loaded.sha256, str(loaded.path), loaded.config.site.id), 1.0)
        yield info
        yield GaugeMetricFamily("cleanroom_config_loaded_timestamp_seconds",
                                "UTC time the configuration in force was started",
                                value=self._started_ns * 1e-9)
        service = self._runtime.extras.get("service")
        reloads = CounterMetricFamily("cleanroom_config_reloads", "Configuration reloads "
                                      "(SIGHUP) by result; a failed reload keeps the old config",
                                      labels=("result",))
        reloads.add_metric(("success",), float(getattr(service, "reloads_ok", 0)))
        reloads.add_metric(("failure",), float(getattr(service, "reloads_failed", 0)))
        yield reloads
        yield from _notifier_metrics(_notifiers(self._runtime.extras))


def _notifiers(extras: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    """Notifiers as ``(name, notifier)``, whether attached as a list or as a mapping."""
    found = extras.get("notifiers")
    if found is None:
        return []
    if isinstance(found, Mapping):
        return list(found.items())
    return [(str(getattr(n, "name", None) or getattr(n, "kind", type(n).__name__)), n)
            for n in found]


def _notifier_metrics(notifiers: Iterable[tuple[str, Any]]) -> Iterator[Metric]:
    delivered = CounterMetricFamily("cleanroom_notifier_deliveries", "Alarm events a notifier "
                                    "delivered", labels=("notifier", "kind"))
    failures = CounterMetricFamily("cleanroom_notifier_failures", "Failed delivery attempts "
                                   "of a notifier (each is retried)", labels=("notifier", "kind"))
    for name, notifier in notifiers:
        labels = (name, str(getattr(notifier, "kind", "")))
        delivered.add_metric(labels, float(getattr(notifier, "delivered", 0)))
        failures.add_metric(labels, float(getattr(notifier, "failures", 0)))
    yield delivered
    yield failures
