"""One Prometheus registry per runtime, filled with collectors that read state at scrape time.

Nothing on the poll path touches Prometheus objects: the collectors read the
pipeline's latest readings, the drivers' status, the alarm engine, the stores
and the service when ``/metrics`` is scraped. A reload builds a new runtime
and with it a new registry, so label sets always match the config in force.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder

from monitor.model import utc_now_ns
from monitor.runtime import Runtime

from .alarms import AlarmCollector
from .devices import DeviceCollector
from .readings import LastGoodTracker, ReadingCollector
from .service import ServiceCollector
from .storage import StorageCollector


def build_registry(runtime: Runtime) -> CollectorRegistry:
    """A registry for ``runtime``; registers a reading listener on its pipeline.

    The listener (``runtime.extras["last_good"]``) also tells the API when each
    channel last read good.
    """
    registry = CollectorRegistry(auto_describe=False)
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
    return encoder(registry), content_type
