"""Hook the stores into a ``Runtime``: live location state, sinks for metrics, health.

* Each reading is stamped with its location's state when it is accepted. The
  factory starts with the configured default; here the alarm engine's live
  state replaces it when the engine offers ``state_of(location)`` (or
  ``location_state(location)``) returning ``"at_rest"``/``"in_operation"``.
* ``runtime.extras["sinks"]``: the InfluxDB forwarders (outbox gauges and
  counters, read by ``monitor.metrics``).
* ``runtime.extras["storage_health"]``: a callable returning the storage
  problems an operator must see (disk full, outbox near its bound, a sink
  failing, quarantined points), empty when all is well.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from monitor.runtime import Runtime
from monitor.storage.embedded import EmbeddedStore
from monitor.storage.factory import sinks_of

log = logging.getLogger(__name__)


def _engine_state_of(alarms: Any) -> Callable[[str], str | None] | None:
    for name in ("state_of", "location_state"):
        method = getattr(alarms, name, None)
        if callable(method):
            return method  # type: ignore[no-any-return]
    return None


def attach(runtime: Runtime) -> None:
    embedded = [s for s in runtime.stores if isinstance(s, EmbeddedStore)]
    live_state = _engine_state_of(runtime.alarms) if runtime.alarms is not None else None
    if live_state is not None:
        for store in embedded:
            fallback = store.state_of

            def state_of(
                location: str,
                live: Callable[[str], str | None] = live_state,
                default: Callable[[str], str | None] | None = fallback,
            ) -> str | None:
                try:
                    state = live(location)
                except KeyError:
                    state = None
                if state is None and default is not None:
                    return default(location)
                return None if state is None else str(state)

            store.state_of = state_of
    runtime.extras["sinks"] = sinks_of(runtime.stores)

    def health() -> list[str]:
        problems: list[str] = []
        for store in embedded:
            problems += store.health()
        for sink in sinks_of(runtime.stores):
            problems += sink.health()
        return problems

    runtime.extras["storage_health"] = health
