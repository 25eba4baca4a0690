"""One Prometheus registry per runtime, filled with collectors that read state at scrape time.

Nothing on the poll path touches Prometheus objects: the collectors read the
pipeline's latest readings, the drivers' status, the alarm engine, the stores
and the service when ``/metrics`` is scraped. A reload builds a new runtime
and with it a new registry, so label sets always match the config in force.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder
from prometheus_client.registry import Collector

from monitor.memory_tuning import release_free_memory, tune_allocator
from monitor.model import utc_now_ns
from monitor.runtime import Runtime

from .alarms import AlarmCollector
from .devices import DeviceCollector
from .encode import TextEncoder
from .labels import SiteSeries
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


def build_registry(runtime: Runtime, *, alarm_points: bool | None = None) -> RuntimeRegistry:
    """A registry for ``runtime``.

    ``runtime.extras["last_good"]`` tells the API when each channel last read
    good. ``alarm_points`` (default: the config's ``http.metrics_alarm_points``)
    adds a series per alarm point and family.
    """
    tune_allocator()  # also when built outside the service (tests, tools)
    registry = RuntimeRegistry()
    tracker = LastGoodTracker(runtime.pipeline)
    runtime.extras["last_good"] = tracker
    loaded = runtime.loaded
    if alarm_points is None:
        alarm_points = bool(getattr(loaded.config.http, "metrics_alarm_points", False))
    series = SiteSeries(loaded)
    registry.register(ReadingCollector(series, runtime.pipeline, tracker))
    devices = {d.name: d.location for d in loaded.config.devices}
    registry.register(DeviceCollector(lambda: runtime.drivers, devices))
    registry.register(AlarmCollector(runtime, series, points=alarm_points))
    registry.register(StorageCollector(lambda: runtime.stores,
                                       lambda: runtime.extras.get("sinks") or [], utc_now_ns))
    registry.register(ServiceCollector(runtime, utc_now_ns()))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry, accept: str | None,
           gzip: bool = False) -> tuple[bytes, str]:
    """Exposition bytes and content type, OpenMetrics when the scraper asks for it.

    A ``RuntimeRegistry`` is encoded by the fast encoder in both formats (its
    families are collected once); any other registry by the library's. With
    ``gzip`` the body is gzip-compressed piece by piece as it is encoded
    (Prometheus asks for it), so the uncompressed text (25 MB at 2,000
    devices) is never held whole.
    """
    encoder, content_type = choose_encoder(accept or "")
    openmetrics = not content_type.startswith("text/plain")
    if not isinstance(registry, RuntimeRegistry):
        return _gzip([encoder(registry)]) if gzip else encoder(registry), content_type
    metrics = list(registry.collect())
    if openmetrics and not registry.text.can_openmetrics(metrics):
        body = encoder(_Fixed(metrics))
        return _gzip([body]) if gzip else body, content_type
    chunks = registry.text.chunks(_drain(metrics), openmetrics)
    body = _gzip(chunks) if gzip else b"".join(chunks)
    del chunks
    release_free_memory()  # what the encoding freed, before the next scrape's burst
    return body, (content_type if openmetrics else CONTENT_TYPE_PLAIN_0_0_4)


def _drain(metrics: list[Metric]) -> Iterator[Metric]:
    """The families in order, each let go once the encoder has moved past it.

    The collected families hold every channel's values (2.4 MB at 2,000 devices
    and 20,000 channels); kept in the list to the end of the scrape, they were
    all live beside the largest family's text and the compressed body (peak
    4.2 MB traced). Empties ``metrics``.
    """
    metrics.reverse()
    while metrics:
        yield metrics.pop()


GZIP_LEVEL = 1  # the text is mostly repeated labels: level 1 already compresses it ~30x


def _gzip(chunks: Iterable[bytes]) -> bytes:
    """The pieces compressed into one growing buffer: a list of the compressed pieces
    (~150 of ~5 KB at 2,000 devices) were live blocks spread over glibc's heap until the
    join, between whatever the event loop allocated meanwhile."""
    packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # wbits 31: gzip framing
    out = bytearray()
    for chunk in chunks:
        out += packer.compress(chunk)
    out += packer.flush()
    return bytes(out)


class _Fixed(Collector):
    """Families already collected, for the library's encoder."""

    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics
