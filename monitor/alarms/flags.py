"""Health alarms whose condition comes from a periodic check, not from a reading.

Calibration due dates, device clocks and the host's NTP status change slowly
and are looked at about once a minute (``monitor.alarms.attach``). Their
alarm points are made here with the rest of the rule tables, so that they
exist from the start, are restored from the event log after a restart and are
retired when the configuration drops them, like every other point. The check
hands the engine a ``Flag`` per point: whether the condition holds, the value
it measured and a note recorded with the raise.

Points (all level ``health``, non-latching):

* ``<device>:calibration_due`` from ``alarms.calibration.warn_before`` before
  the calibration expires until it expires (limit: the warning period in days,
  value: days left);
* ``<device>:calibration_overdue`` from the expiry on (value: days left, <= 0);
* ``<device>:clock_drift`` when the device's clock is off the daemon's by more
  than ``alarms.clock.max_drift`` (value: device minus daemon, seconds);
* ``daemon:clock_unsynchronized`` when the host says its clock is not
  synchronised (``alarms.clock.ntp``); it belongs to no location.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .conditions import FlagRule, LocationRt
from .events import Level
from .states import AlarmPoint
from .table import P_CHECK

if TYPE_CHECKING:
    from monitor.config import LoadedConfig

    from .table import Tables

CAL_DUE = "calibration_due"
CAL_OVERDUE = "calibration_overdue"
CLOCK_DRIFT = "clock_drift"
CLOCK_UNSYNC = "clock_unsynchronized"
DAEMON = "daemon"
"""The 'device' name of alarms about the daemon's own host."""

DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class Flag:
    """The outcome of one check for one point: does its condition hold now?"""

    key: str  # point key, e.g. "pc1:calibration_overdue"
    raw: bool
    value: float | None = None
    note: str | None = None


def key(device: str, rule: str) -> str:
    return f"{device}:{rule}"


def clock_devices(loaded: LoadedConfig) -> list[str]:
    """Enabled devices whose readings carry the device's own time.

    Record-buffer particle counters stamp every record; MQTT channels with a
    ``timestamp_path`` carry the payload's time.
    """
    cfg = loaded.config
    stamped = {info.device for info in loaded.channels.values() if info.spec.timestamp_path}
    out = []
    for device in cfg.devices:
        health = cfg.alarms.health.devices.get(device.name)
        if not device.enabled or (health is not None and not health.enabled):
            continue
        if cfg.profiles[device.profile].particle_counter is not None or device.name in stamped:
            out.append(device.name)
    return out


def add_check_points(t: Tables, loaded: LoadedConfig) -> None:
    """Calibration, clock-drift and NTP points of ``loaded`` (``rules.build_tables``)."""
    cfg = loaded.config
    acfg = cfg.alarms
    cal = acfg.calibration
    if cal.enabled:
        for device in cfg.devices:
            dev = t.devices.get(device.name)
            if dev is None or device.calibration_due is None:
                continue
            due = device.calibration_due.isoformat()
            loc = t.locations[dev.location]
            _flag(t, dev.name, dev.location, loc, CAL_DUE, str(cal.priority_due),
                  threshold=round(cal.warn_before / DAY_S, 6),
                  settings={"warn_before_days": cal.warn_before / DAY_S,
                            "due": due, "certificate": device.calibration_certificate})
            _flag(t, dev.name, dev.location, loc, CAL_OVERDUE, str(cal.priority_overdue),
                  threshold=0.0,
                  settings={"due": due, "certificate": device.calibration_certificate})
    clock = acfg.clock
    if clock.devices:
        for name in clock_devices(loaded):
            dev = t.devices[name]
            _flag(t, name, dev.location, t.locations[dev.location], CLOCK_DRIFT,
                  str(clock.priority), threshold=clock.max_drift,
                  settings={"max_drift_s": clock.max_drift, "window_s": clock.window})
    if clock.ntp != "off":
        _flag(t, DAEMON, "", LocationRt("", ""), CLOCK_UNSYNC, str(clock.priority),
              threshold=None, settings={"ntp": clock.ntp})


def _flag(t: Tables, device: str, location: str, loc: LocationRt, rule: str,  # noqa: PLR0917
          priority: str, *, threshold: float | None, settings: dict[str, object]) -> None:
    point = AlarmPoint(key(device, rule), location=location, channel=device, device=device,
                       rule=rule, level=Level.HEALTH, priority=priority, latching=False)
    t.pin(point, FlagRule(point, loc, 0, settings, threshold=threshold), P_CHECK)
    t.checked[point.key] = device
