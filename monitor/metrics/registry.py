"""One Prometheus registry per runtime, filled with collectors that read state at scrape time.

Nothing on the poll path touches Prometheus objects: the collectors read the
pipeline's latest readings, the drivers' status, the alarm engine, the stores
and the service when ``/metrics`` is scraped. A reload builds a new runtime
and with it a new registry, so label sets always match the config in force.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from monitor.model import utc_now_ns
from monitor.runtime import Runtime

from .alarms import AlarmCollector
from .devices import DeviceCollector
from .encode import TextEncoder
from .readings import LastGoodTracker, ReadingCollector
from .service import ServiceCollector
from .storage import StorageCollector


class RuntimeRegistry(CollectorRegistry):
    """A registry whose collectors copy live state in ``prepare`` (on the event loop), so
    that encoding, the slow part at thousands of channels, can run in a worker thread."""

    def __init__(self) -> None:
        super().__init__(auto_describe=False)
        self.preparers: list[Callable[[], None]] = []
        self.text = TextEncoder()

    def register(self, collector: Collector) -> None:
        super().register(collector)
        prepare = getattr(collector, "prepare", None)
        if callable(prepare):
            self.preparers.append(prepare)

    def prepare(self) -> None:
        for prepare in self.preparers:
            prepare()


def build_registry(runtime: Runtime) -> RuntimeRegistry:
    """A registry for ``runtime``; registers a reading listener on its pipeline.

    The listener (``runtime.extras["last_good"]``) also tells the API when each
    channel last read good.
    """
    registry = RuntimeRegistry()
    tracker = LastGoodTracker()
    runtime.pipeline.reading_listeners.append(tracker)
    runtime.extras["last_good"] = tracker
    loaded = runtime.loaded
    registry.register(ReadingCollector(loaded.channels, runtime.pipeline, tracker))
    devices = {d.name: d.location for d in loaded.config.devices}
    registry.register(DeviceCollector(lambda: runtime.drivers, devices))
    registry.register(AlarmCollector(runtime))
    registry.register(StorageCollector(lambda: runtime.stores,
                                       lambda: runtime.extras.get("sinks") or [], utc_now_ns))
    registry.register(ServiceCollector(runtime, utc_now_ns()))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """Exposition bytes and content type, OpenMetrics when the scraper asks for it."""
    encoder, content_type = choose_encoder(accept or "")
    if content_type.startswith("text/plain") and isinstance(registry, RuntimeRegistry):
        return registry.text.encode(registry), content_type
    return encoder(registry), content_type
