"""Health alarms for what is not a device: the daemon's own database, alarm log, sinks, notifiers.

A *system condition* is a health point set from outside the readings
(``AlarmService.set_conditions``): "the readings database cannot be written",
"sink influx cannot write", "notifier ops is failing". It runs on the same
ISA-18.2 state machine as every alarm (level ``health``, non-latching,
audited in the event log, restored after a restart) with its own on-delay, so
a short blip does not page anyone.

Points are ``<component>:<condition>``; the component is ``store:embedded``,
``store:alarm_log``, ``sink:<name>`` or ``notifier:<name>``, which is also the
point's channel (its device is ``daemon``; it belongs to no location). The
points of the configured parts are declared with the rule tables, so they
exist from the start and a sink or notifier removed from the configuration
retires its points like any rule. Any other point is made on its first report
(with the report's priority and on-delay); after a restart it is retired
until it is reported again, which re-raises an alarm still unacknowledged
under its old id.

Two kinds of condition:

* **level**: holds while the problem lasts (disk full, sink down, outbox over
  its warning ratio...); raised after the on-delay, measured from when the
  part says the problem began (``Report.since_ns``) where it knows;
* **count**: a counter of lost or set-aside data grew (readings dropped at
  the memory bound, skipped at a sink's bound, quarantined): raised at the
  check that saw it grow, cleared at the next one, so that it waits in
  ``rtn_unack`` for someone to acknowledge it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .conditions import FlagRule, LocationRt
from .events import Level
from .flags import DAEMON
from .states import AlarmPoint
from .table import P_SYSTEM

if TYPE_CHECKING:
    from monitor.config import LoadedConfig

    from .table import Tables

NS = 1_000_000_000
STORE = "store:embedded"
ALARM_LOG = "store:alarm_log"
# conditions (the rule of a point)
DISK, SPACE, MEMORY, LOST, WRITE = "disk", "space", "memory", "lost", "write"
DOWN, OUTBOX, SKIPPED, QUARANTINE, FAILING = "down", "outbox", "skipped", "quarantine", "failing"
COUNTS = frozenset({LOST, SKIPPED, QUARANTINE})
NOWHERE = LocationRt("", "")


def sink(name: str) -> str:
    return f"sink:{name}"


def notifier(name: str) -> str:
    return f"notifier:{name}"


def key(component: str, condition: str) -> str:
    return f"{component}:{condition}"


@dataclass(frozen=True, slots=True)
class Report:
    """What a check found for one point: does the condition hold now, and since when."""

    point: str  # e.g. "sink:influx:down"
    active: bool
    detail: str | None = None  # recorded with the raise (what failed, how badly)
    value: float | None = None
    since_ns: int | None = None  # when the part says the problem began (UTC ns), if it knows
    priority: str | None = None  # for a point made on this report only
    on_delay_s: float | None = None  # likewise


def add_system_points(t: Tables, loaded: LoadedConfig) -> None:
    """The points of the configured parts (``rules.build_tables``)."""
    cfg = loaded.config
    sys = cfg.alarms.system
    if not sys.enabled:
        return
    prio = str(sys.priority)
    emb = cfg.storage.embedded
    declare(t, key(STORE, DISK), prio, sys.delay)
    if sys.min_free_ratio > 0:
        declare(t, key(STORE, SPACE), prio, sys.delay, threshold=sys.min_free_ratio * 100,
                settings={"min_free_percent": sys.min_free_ratio * 100})
    declare(t, key(STORE, MEMORY), prio, sys.delay,
            threshold=float(int(sys.memory_warn_ratio * emb.memory_limit)),
            settings={"memory_limit": emb.memory_limit, "warn_ratio": sys.memory_warn_ratio})
    declare(t, key(STORE, LOST), prio, 0.0)
    declare(t, key(ALARM_LOG, WRITE), prio, sys.delay)
    for s in cfg.storage.sinks:
        declare(t, key(sink(s.name), DOWN), prio, sys.sink_down_after)
        declare(t, key(sink(s.name), OUTBOX), prio, sys.delay,
                threshold=float(int(s.warn_ratio * s.max_pending)),
                settings={"max_pending": s.max_pending, "warn_ratio": s.warn_ratio})
        declare(t, key(sink(s.name), SKIPPED), prio, 0.0)
        declare(t, key(sink(s.name), QUARANTINE), prio, 0.0)
    for n in cfg.notify.notifiers:
        declare(t, key(notifier(n.name), FAILING), prio, sys.notifier_failing_after,
                settings={"kind": n.kind})


def declare(t: Tables, point_key: str, priority: str, on_delay_s: float, *,
            threshold: float | None = None,
            settings: Mapping[str, Any] | None = None) -> FlagRule:
    """The condition of a system point, made (or given back to a point the log knows)."""
    component, _, condition = point_key.rpartition(":")
    if not component or not condition:
        raise ValueError(f"a system point is component:condition, not {point_key!r}")
    full = {"component": component, "on_delay_s": on_delay_s, **(settings or {})}
    point = t.lives.get(point_key)
    if point is None:
        point = AlarmPoint(point_key, location="", channel=component, device=DAEMON,
                           rule=condition, level=Level.HEALTH, priority=priority,
                           latching=False)
        t.pin(point, None, P_SYSTEM)
    cond = FlagRule(point, NOWHERE, int(on_delay_s * NS), full, threshold=threshold)
    t.conds[point_key] = cond
    t.system[point_key] = cond
    t.reorder()
    return cond
