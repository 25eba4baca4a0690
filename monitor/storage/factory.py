"""Build the stores a configuration asks for.

There is always exactly one ``ReadingStore`` in the pipeline, the embedded
store: it commits every reading to ``<data_dir>/readings.db``. InfluxDB sinks
are not separate stores; they are forwarders that read that database as their
outbox (one cursor each), so a reading is written to disk once however many
sinks there are, and no sink can lose what the disk holds.

The sink machinery (forwarder, transports, influxdb-client, which pulls in
numpy: ~25 MB and ~0.6 s of start-up) is imported only when a sink is
configured.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.config import LoadedConfig
from monitor.config.storage import InfluxV2Sink, Sink
from monitor.storage.base import ReadingStore
from monitor.storage.embedded import EmbeddedStore

if TYPE_CHECKING:
    from monitor.storage.forwarder import Forwarder
    from monitor.storage.transport import Transport

READINGS_DB = "readings.db"

StateOf = Callable[[str], str | None]


def readings_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / READINGS_DB


def default_state_of(loaded: LoadedConfig) -> StateOf:
    """The configured default state of each location, until the alarm engine says better."""
    defaults = {name: str(loc.state.default) for name, (_, loc) in loaded.locations.items()}
    return defaults.get


def build_stores(loaded: LoadedConfig, *, state_of: StateOf | None = None) -> list[ReadingStore]:
    """The embedded store, with one forwarder per configured InfluxDB sink.

    ``state_of(location)`` gives the location's current state (``at_rest`` /
    ``in_operation``) stamped on each reading when it is accepted;
    ``monitor.storage.attach`` replaces the config default with the alarm
    engine's live state when there is one.
    """
    cfg = loaded.config
    store = EmbeddedStore(
        readings_path(cfg.data_dir),
        loaded.channels,
        commit_interval=cfg.storage.embedded.commit_interval,
        retention_s=cfg.storage.embedded.retention,
        state_of=state_of or default_state_of(loaded),
        site=cfg.site.id,
        synchronous=cfg.storage.embedded.synchronous,
        memory_limit=cfg.storage.embedded.memory_limit,
        background_start=True,  # the file's integrity check runs while the first polls go on
    )
    if cfg.storage.sinks:
        from monitor.storage.forwarder import Forwarder

        store.wait_started()  # a sink's outbox writes to the file: only once it is checked
        for sink in cfg.storage.sinks:
            store.forwarders.append(Forwarder(store, build_transport(sink), sink))
    return [store]


def build_transport(sink: Sink) -> Transport:
    if isinstance(sink, InfluxV2Sink):
        from monitor.storage.influx_v2 import InfluxV2Transport

        return InfluxV2Transport(sink)
    from monitor.storage.influx_v1 import InfluxV1Transport

    return InfluxV1Transport(sink)


def sinks_of(stores: Iterable[ReadingStore]) -> list[Forwarder]:
    """Every forwarder of ``stores``: what the metrics and the health page read."""
    return [f for s in stores if isinstance(s, EmbeddedStore) for f in s.forwarders]
