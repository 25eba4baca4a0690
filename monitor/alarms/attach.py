"""Hooking the periodic health checks and the reading marks into a running daemon.

``attach(runtime)`` (``monitor.runtime`` calls it after the audit trail is
attached) adds to the runtime:

* ``pipeline.transform``: maintenance marking, then calibration flags
  (``chain`` keeps any transform already set, first);
* a reading listener that records device clock lags (``DeviceClocks``);
* a tick hook (``runtime.tick_hooks``, every second) that about once a minute
  (and once at attach) re-checks calibration due dates, device clocks and the
  NTP status, and hands the alarm engine their conditions
  (``AlarmService.set_flags``); the events go out with the same tick;
* the service ``ntp-status``, which asks the host (``timedatectl``/adjtimex)
  in a thread every minute so that the tick never waits for a subprocess;
* ``extras["health_checks"]``: the ``HealthChecks`` object (tests and views);
* with ``alarms.system.enabled``, a second tick hook that looks at the daemon's
  own parts (readings database, alarm log, sinks, notifiers) every
  ``alarms.system.check_interval`` and reports their conditions
  (``monitor.alarms.system_watch``; ``extras["system_watch"]``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from monitor.logs import log_event
from monitor.model import Reading, utc_now_ns
from monitor.qa.calibration import CalibrationMonitor, CalStatus, chain

from .clock import DeviceClocks, watched_channels
from .flags import CAL_DUE, CAL_OVERDUE, CLOCK_DRIFT, CLOCK_UNSYNC, DAEMON, Flag, key
from .maintenance import MaintenanceMarker
from .ntp import NtpStatus, Sync, probe
from .system_watch import SystemWatch

if TYPE_CHECKING:
    from monitor.config import LoadedConfig

    from .events import AlarmEvent
    from .service import AlarmService
    from .states import AlarmPoint

log = logging.getLogger("monitor.alarms")

CHECK_INTERVAL = 60.0
NS = 1_000_000_000


class HealthChecks:
    """Calibration, device clocks and NTP, checked every ``interval`` seconds from the tick."""

    def __init__(self, loaded: LoadedConfig, service: AlarmService, *, audit: Any = None,
                 interval: float = CHECK_INTERVAL,
                 ntp_probe: Callable[[], NtpStatus] = probe) -> None:
        self.loaded = loaded
        self.service = service
        self.interval = interval
        self.ntp_probe = ntp_probe
        acfg = loaded.config.alarms
        self.ntp_mode: str = acfg.clock.ntp
        checked = service.engine.t.checked
        # points with a configured check (a retired one from the log has none)
        self._flaggable = frozenset(checked)
        restored = self._restored_calibration(service.engine.t.live_points())
        self.calibration = CalibrationMonitor(loaded, audit=audit, previous=restored)
        self.marker = MaintenanceMarker(service.engine, loaded)
        clock_devs = {device for k, device in checked.items() if k == key(device, CLOCK_DRIFT)}
        self.clocks = DeviceClocks(
            watched_channels(((cid, i.device) for cid, i in loaded.channels.items()), clock_devs),
            max_drift_s=acfg.clock.max_drift, window_s=acfg.clock.window)
        self.ntp: NtpStatus | None = None
        self._last_ns: int | None = None  # time of the last check
        self.checks = 0

    def _restored_calibration(self, points: Iterable[AlarmPoint]) -> dict[str, CalStatus]:
        """What the alarm log says each device's calibration was, so a restart re-audits none."""
        out: dict[str, CalStatus] = {}
        conditions = self.service.engine.t.conds
        for p in points:
            cond = conditions.get(p.key)
            if cond is None or not cond.active:
                continue
            if p.rule == CAL_OVERDUE:
                out[p.device] = CalStatus.OVERDUE
            elif p.rule == CAL_DUE:
                out.setdefault(p.device, CalStatus.DUE_SOON)
        return out

    @property
    def transform(self) -> Callable[[Sequence[Reading]], Sequence[Reading]]:
        return chain(self.marker, self.calibration.flag_readings)

    def tick(self, now_ns: int) -> None:
        """The runtime's tick hook: run the checks when they are due."""
        # a clock stepped back (negative elapsed time) must not hold the checks back for as long
        if self._last_ns is not None and 0 <= now_ns - self._last_ns < int(self.interval * NS):
            return
        self._last_ns = now_ns
        self.check(now_ns)

    def check(self, now_ns: int) -> list[AlarmEvent]:
        """Run every check now; returns the alarm events it caused."""
        self.checks += 1
        self.calibration.check(now_ns)
        flags = [f for f in self.calibration.flags() if f.key in self._flaggable]
        flags += self.clocks.flags(now_ns)
        ntp = self._ntp_flag()
        if ntp is not None:
            flags.append(ntp)
        if not flags:
            return []
        return self.service.set_flags(flags, now_ns)

    def _ntp_flag(self) -> Flag | None:
        status = self.ntp
        point = key(DAEMON, CLOCK_UNSYNC)
        if status is None or point not in self._flaggable:
            return None
        bad = status.sync is Sync.UNSYNCHRONIZED or (
            status.sync is Sync.UNKNOWN and self.ntp_mode == "required")
        return Flag(point, bad, None, f"host clock {status.sync.value}: {status.detail}")

    async def watch_ntp(self) -> None:
        """Ask the host for its NTP status every ``interval`` (the ``ntp-status`` service)."""
        while True:
            try:
                status = await asyncio.to_thread(self.ntp_probe)
            except Exception as err:  # this task must not take the daemon down with it
                log.exception("NTP status probe failed")
                status = NtpStatus(Sync.UNKNOWN, None, f"probe failed: {err}")
            if self.ntp is None or status.sync is not self.ntp.sync:
                log_event(log, logging.WARNING if status.sync is Sync.UNSYNCHRONIZED
                          else logging.INFO, "host clock synchronisation",
                          sync=status.sync.value, source=status.source or "none",
                          detail=status.detail)
            changed = self.ntp is None or status.sync is not self.ntp.sync
            self.ntp = status
            flag = self._ntp_flag() if changed else None
            if flag is not None:  # at once, not at the next check: published with the tick
                self.service.set_flags([flag], utc_now_ns())
            await asyncio.sleep(self.interval)


def attach(runtime: Any, *, interval: float = CHECK_INTERVAL) -> HealthChecks | None:
    service = runtime.alarms
    if service is None or service.readonly:
        return None
    checks = HealthChecks(runtime.loaded, service, audit=runtime.extras.get("audit"),
                          interval=interval)
    pipeline = runtime.pipeline
    pipeline.transform = chain(pipeline.transform, checks.transform)
    if checks.clocks.devices:
        pipeline.reading_listeners.append(checks.clocks.observe)
    runtime.tick_hooks.append(checks.tick)
    # The first check now: calibration alarms and reading flags hold from the first reading on
    # (its events are published with the first tick, when every listener is attached).
    checks.tick(utc_now_ns())
    if checks.ntp_mode != "off":
        runtime.services["ntp-status"] = checks.watch_ntp
    runtime.extras["health_checks"] = checks
    if runtime.loaded.config.alarms.system.enabled:
        watch = SystemWatch(runtime, service)
        runtime.tick_hooks.append(watch.tick)
        watch.tick(utc_now_ns())  # the counters' baseline, before any part runs
        runtime.extras["system_watch"] = watch
    return checks
