"""Looking at the daemon's own parts from the tick, and reporting their conditions.

``SystemWatch.tick`` (a ``runtime.tick_hooks`` entry, wired by
``monitor.alarms.attach``) reads, about every ``alarms.system.check_interval``:

* the embedded store: the disk refusing commits (``disk_problem``), free space
  of the data directory's file system, readings held in memory while the disk
  fails, readings dropped at the memory bound;
* the alarm log: events that cannot be written;
* each InfluxDB sink (``store.forwarders``): writes failing (since
  ``failing_since_ns``), the outbox at or over ``warn_ratio`` of its bound,
  readings skipped at the bound, points quarantined;
* each notifier (``runtime.extras["notifiers"]``): deliveries failing (since
  ``failing_since_ns``).

and hands the alarm service one ``Report`` per point
(``AlarmService.set_conditions``). Everything read is a plain attribute of a
live object; nothing here waits for I/O except one ``statvfs`` of the data
directory. Parts attached after the alarms (notifiers) are looked up at each
check.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .system import (
    ALARM_LOG,
    DISK,
    DOWN,
    FAILING,
    LOST,
    MEMORY,
    OUTBOX,
    QUARANTINE,
    SKIPPED,
    SPACE,
    STORE,
    WRITE,
    Report,
    key,
    notifier,
    sink,
)

if TYPE_CHECKING:
    from monitor.config.alarms import SystemHealthConfig

    from .events import AlarmEvent
    from .service import AlarmService

log = logging.getLogger("monitor.alarms")

NS = 1_000_000_000
MB = 1_000_000


class SystemWatch:
    """The checks of one runtime; see the module docstring."""

    def __init__(self, runtime: Any, service: AlarmService) -> None:
        self.runtime = runtime
        self.service = service
        self.config: SystemHealthConfig = runtime.loaded.config.alarms.system
        self.data_dir = Path(runtime.loaded.config.data_dir)
        self._declared = frozenset(service.engine.t.system)
        self._counts: dict[str, int] = {}  # point -> counter value at the last check
        self._last_ns: int | None = None
        self.checks = 0

    def tick(self, now_ns: int) -> None:
        """The runtime's tick hook: check when due (a clock stepped back does not hold it)."""
        interval = int(self.config.check_interval * NS)
        if self._last_ns is not None and 0 <= now_ns - self._last_ns < interval:
            return
        self._last_ns = now_ns
        self.check(now_ns)

    def check(self, now_ns: int) -> list[AlarmEvent]:
        """Look at every part now; the alarm events it caused."""
        self.checks += 1
        reports = [r for r in self.reports() if r.point in self._declared]
        return self.service.set_conditions(reports, now_ns) if reports else []

    def reports(self) -> Iterator[Report]:
        stores = [s for s in self.runtime.stores if hasattr(s, "disk_problem")]
        for store in stores:
            yield from self._store(store)
        yield self._alarm_log()
        for store in stores:
            for forwarder in getattr(store, "forwarders", ()):
                yield from self._sink(forwarder)
        notifiers = self.runtime.extras.get("notifiers") or {}
        for name, n in notifiers.items():
            yield self._notifier(name, n)

    # --- the parts -------------------------------------------------------------------------

    def _store(self, store: Any) -> Iterator[Report]:
        pending = int(store.pending)
        problem = store.disk_problem
        yield Report(key(STORE, DISK), problem is not None,
                     f"readings database {store.path}: {problem}; {pending} readings held in "
                     "memory" if problem is not None else None, float(pending))
        limit = int(store.memory_limit)
        ratio = self.config.memory_warn_ratio
        yield Report(key(STORE, MEMORY), pending >= ratio * limit,
                     f"{pending} readings held in memory, {pending / limit:.0%} of the bound "
                     f"{limit} (storage.embedded.memory_limit)", float(pending))
        yield self._grew(key(STORE, LOST), int(store.dropped),
                         "readings lost: the memory bound was reached while the disk failed")
        if self.config.min_free_ratio > 0:
            space = self._space(Path(store.path).parent)
            if space is not None:
                yield space

    def _space(self, where: Path) -> Report | None:
        try:
            usage = shutil.disk_usage(where)
        except OSError as err:  # the disk fault itself is reported by the store
            log.debug("cannot read the free space of %s: %s", where, err)
            return None
        if usage.total <= 0:
            return None
        free = usage.free / usage.total
        return Report(key(STORE, SPACE), free < self.config.min_free_ratio,
                      f"data directory {where}: {usage.free / MB:.0f} MB free of "
                      f"{usage.total / MB:.0f} MB ({free:.1%})", round(free * 100, 3))

    def _alarm_log(self) -> Report:
        problem = self.service.write_problem
        return Report(key(ALARM_LOG, WRITE), problem is not None,
                      f"alarm events not written to {self.data_dir / 'alarms.db'}: {problem}; "
                      "kept in memory and retried" if problem is not None else None)

    def _sink(self, f: Any) -> Iterator[Report]:
        component = sink(f.name)
        down = not f.available
        yield Report(key(component, DOWN), down,
                     f"sink {f.name}: cannot write ({f.last_error})" if down else None,
                     since_ns=f.failing_since_ns if down else None)
        depth, bound = int(f.outbox_depth), int(f.max_pending)
        yield Report(key(component, OUTBOX), depth >= f.settings.warn_ratio * bound,
                     f"sink {f.name}: outbox holds {depth} readings, {depth / bound:.0%} of its "
                     f"bound {bound}; beyond it the oldest are skipped for this sink",
                     float(depth))
        yield self._grew(key(component, SKIPPED), int(f.skipped),
                         f"readings skipped for sink {f.name} at its outbox bound {bound} "
                         "(kept in the local history, recorded in sink_skips)")
        yield self._grew(key(component, QUARANTINE), int(f.quarantined),
                         f"points quarantined by sink {f.name}: the server refused them "
                         "(kept in the local history and in table quarantine)")

    def _notifier(self, name: str, n: Any) -> Report:
        since = getattr(n, "failing_since_ns", None)
        failing = since is not None
        return Report(key(notifier(name), FAILING), failing,
                      f"notifier {name} ({n.kind}): deliveries failing: "
                      f"{getattr(n, 'last_error', None)}" if failing else None,
                      float(getattr(n, "failures", 0)), since_ns=since)

    def _grew(self, point: str, count: int, what: str) -> Report:
        """A count condition: holds at the check that sees ``count`` grow (see system)."""
        before = self._counts.get(point)
        self._counts[point] = count
        grew = before is not None and count > before
        detail = f"{count - before} {what}; {count} in all" if grew and before is not None else None
        return Report(point, grew, detail, float(count))
