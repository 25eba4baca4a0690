"""Alarm limits and conditions as written in the site config.

A location lists ``limits`` per channel (``device/channel``). Particle action
limits may be left to the grade preset (``high_action: preset``); an explicit
value always overrides the preset. Limits may differ per location state: the
top-level values apply in both states and ``at_rest`` / ``in_operation`` replace
the fields they set (``null`` included) for that state only.

Checks that need the rest of the config (channel exists, grade has a preset,
door channels) live in ``check_alarm_references``, called by the loader.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from .base import ConfigModel, Name
from .durations import Duration
from .site import Standard

if TYPE_CHECKING:
    from .devices import ChannelSpec
    from .root import Config

Loc = tuple[str | int, ...]

PARTICLE_QUANTITIES = ("particles_0_5um", "particles_5_0um")
PARTICLE_UNITS = ("particles/m3", "particles/m³")


class Priority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class LimitValues(ConfigModel):
    """The limit values themselves; used at the top of a limit and per location state."""

    high_alert: float | None = None
    high_action: float | Literal["preset"] | None = None
    low_alert: float | None = None
    low_action: float | None = None
    alert_fraction: float | None = Field(
        None, gt=0, lt=1, description="High alert = this fraction of the high action limit"
    )


class RateOfChangeConfig(ConfigModel):
    """Alarm when a value moves faster than ``max_change`` within ``per``."""

    max_change: float = Field(gt=0, description="Largest allowed change within 'per'")
    per: Duration = Field(60.0, description="Window the change is measured over")
    direction: Literal["rise", "fall", "both"] = "both"
    level: Literal["alert", "action"] = "alert"
    priority: Priority = Priority.MEDIUM
    on_delay: Duration = 0.0

    @model_validator(mode="after")
    def _positive(self) -> RateOfChangeConfig:
        if self.per <= 0:
            raise ValueError("per must be a positive duration")
        return self


class LimitConfig(LimitValues):
    """Alert and action limits of one channel at one location, with their conditions."""

    channel: str = Field(description="'device/channel' this limit applies to")
    at_rest: LimitValues | None = Field(None, description="Replaces the fields it sets, at rest")
    in_operation: LimitValues | None = Field(
        None, description="Replaces the fields it sets, in operation"
    )
    on_delay: Duration = Field(0.0, description="The condition must hold this long to alarm")
    off_delay: Duration = Field(0.0, description="The return must hold this long to clear")
    deadband: float = Field(0.0, ge=0, description="Hysteresis on the return to normal")
    consecutive: int = Field(1, ge=1, description="n of the n-of-m rule")
    window: int = Field(1, ge=1, le=64, description="m of the n-of-m rule")
    priority_alert: Priority = Priority.MEDIUM
    priority_action: Priority = Priority.HIGH
    latch_alert: bool = Field(False, description="Alert alarms latch until acknowledged")
    latch_action: bool = Field(True, description="Action alarms latch until acknowledged")
    rate_of_change: RateOfChangeConfig | None = None
    between: tuple[Name, Name] | None = Field(
        None, description="Pressure cascade: the two rooms (higher, lower) this channel spans"
    )
    description: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> LimitConfig:
        if self.consecutive > self.window:
            raise ValueError("consecutive (n) must not exceed window (m)")
        if self.at_rest is None and self.in_operation is None:
            _check_order(self, "")  # the common case: no per-state values, no models built
            return self
        for state in ("at_rest", "in_operation"):
            values = self.effective(state)
            where = "" if values == self._base() else f" ({state})"
            _check_order(values, where)
        return self

    def _base(self) -> LimitValues:
        # the values were validated as this entry's; constructing skips building LimitValues'
        # own validator (deferred, ~25 ms) at the first call, on a start from the config cache
        return LimitValues.model_construct(
            high_alert=self.high_alert, high_action=self.high_action, low_alert=self.low_alert,
            low_action=self.low_action, alert_fraction=self.alert_fraction,
        )

    def effective_high_action(self, state: str) -> float | Literal["preset"] | None:
        """``effective(state).high_action`` without building a model (checked per channel)."""
        override = self.at_rest if state == "at_rest" else self.in_operation
        if override is not None and "high_action" in override.model_fields_set:
            return override.high_action
        return self.high_action

    def effective(self, state: str) -> LimitValues:
        """The values in force in ``state`` ('at_rest' or 'in_operation')."""
        base = self._base()
        override = self.at_rest if state == "at_rest" else self.in_operation
        if override is None:
            return base
        changes = {name: getattr(override, name) for name in override.model_fields_set}
        return base.model_copy(update=changes)


def _check_order(v: LimitValues, where: str) -> None:
    high_alert, high_action = v.high_alert, v.high_action
    if v.low_alert is None and v.low_action is None and v.alert_fraction is None:
        # the common entry (high limits only): the one check below that can fail for it
        if (high_alert is not None and isinstance(high_action, (float, int))
                and high_alert > high_action):
            raise ValueError(
                f"high_alert {high_alert:g} is above high_action {high_action:g}{where}"
            )
        return
    if isinstance(v.high_action, float | int) and v.high_alert is not None and (
        v.high_alert > v.high_action
    ):
        raise ValueError(
            f"high_alert {v.high_alert:g} is above high_action {v.high_action:g}{where}"
        )
    if v.low_action is not None and v.low_alert is not None and v.low_alert < v.low_action:
        raise ValueError(f"low_alert {v.low_alert:g} is below low_action {v.low_action:g}{where}")
    if v.high_alert is not None and v.alert_fraction is not None:
        raise ValueError(f"give either high_alert or alert_fraction, not both{where}")
    if v.alert_fraction is not None and v.high_action is None:
        raise ValueError(f"alert_fraction needs a high_action{where}")
    highs = [x for x in (v.high_alert, v.high_action) if isinstance(x, float | int)]
    lows = [x for x in (v.low_alert, v.low_action) if x is not None]
    if highs and lows and min(highs) <= max(lows):
        raise ValueError(f"high limits must lie above low limits{where}")


class DeviceHealthConfig(ConfigModel):
    """Per-device overrides of the health rules."""

    enabled: bool = True
    expected_interval: Duration | None = Field(
        None, description="How often a new value is expected (default: the poll interval)"
    )
    stale_after_intervals: int | None = Field(None, ge=1)
    stale_delay: Duration | None = None
    comm_fail_delay: Duration | None = None
    fault_delay: Duration | None = None


class HealthConfig(ConfigModel):
    """Stale-data, communication and device-fault alarms, per device unless overridden."""

    enabled: bool = True
    stale_after_intervals: int = Field(5, ge=1)
    stale_delay: Duration = 30.0
    comm_fail_delay: Duration = 30.0
    fault_delay: Duration = 10.0
    particle_record_interval: Duration = Field(
        60.0, description="Expected interval of particle-counter channels (one record a sample)"
    )
    priority: Priority = Priority.HIGH
    devices: dict[Name, DeviceHealthConfig] = Field(default_factory=dict)


class DoorConfig(ConfigModel):
    """A door contact: suppresses pressure alarms while the door is briefly open."""

    channel: str = Field(description="'device/channel' of the door contact")
    open_when: Literal["nonzero", "zero"] = "nonzero"
    suppress: list[str] | None = Field(
        None,
        description="Channels suppressed while the door is open (default: every "
        "differential_pressure channel of the door's location)",
    )
    suppress_for: Duration = Field(60.0, description="Longest suppression from the opening")
    settle: Duration = Field(10.0, description="Suppression kept after the door closes")
    held_open_after: Duration | None = Field(
        120.0, description="A door open this long raises an alarm (null: never)"
    )
    priority: Priority = Priority.MEDIUM


class CalibrationAlarmConfig(ConfigModel):
    """Health alarms from ``devices[].calibration_due``: due soon, then overdue."""

    enabled: bool = True
    warn_before: Duration = Field(
        30 * 86400.0, description="The due-soon alarm starts this long before the calibration "
        "expires"
    )
    priority_due: Priority = Priority.MEDIUM
    priority_overdue: Priority = Priority.HIGH


class ClockConfig(ConfigModel):
    """Time: device clocks compared with the daemon's, and the host's NTP synchronisation."""

    devices: bool = Field(
        True, description="Compare the clocks of devices that stamp their data (particle "
        "counter records, MQTT payload times) with the daemon's"
    )
    max_drift: Duration = Field(30.0, description="Largest device clock offset without alarm")
    window: Duration = Field(
        600.0, description="The offset is the smallest lag seen in this window (longer than "
        "the longest record cycle)"
    )
    ntp: Literal["auto", "required", "off"] = Field(
        "auto", description="auto: alarm when the host says its clock is not synchronised; "
        "required: also when the status cannot be read; off: no check"
    )
    priority: Priority = Priority.MEDIUM

    @model_validator(mode="after")
    def _positive(self) -> ClockConfig:
        if self.max_drift <= 0 or self.window <= 0:
            raise ValueError("max_drift and window must be positive")
        return self


class SystemHealthConfig(ConfigModel):
    """Health alarms for the daemon's own parts: readings database, alarm log, InfluxDB sinks,
    notifiers (read from them every ``check_interval``)."""

    enabled: bool = True
    check_interval: Duration = Field(5.0, description="How often the parts are looked at")
    priority: Priority = Priority.HIGH
    delay: Duration = Field(
        30.0, description="A readings-database, alarm-log, disk-space, memory or outbox "
        "problem alarms once it lasted this long"
    )
    sink_down_after: Duration = Field(
        60.0, description="A sink that cannot write alarms once it failed this long"
    )
    notifier_failing_after: Duration = Field(
        60.0, description="A notifier whose deliveries fail alarms once they failed this long"
    )
    memory_warn_ratio: float = Field(
        0.5, gt=0, le=1, description="Readings held in memory while the disk fails, as a "
        "fraction of storage.embedded.memory_limit, that alarm"
    )
    min_free_ratio: float = Field(
        0.05, ge=0, lt=1, description="Free space of the data directory's file system below "
        "this fraction of its size alarms (0: never)"
    )


class AlarmsConfig(ConfigModel):
    health: HealthConfig = HealthConfig.model_construct()
    system: SystemHealthConfig = SystemHealthConfig.model_construct()
    limits: dict[Name, list[LimitConfig]] = Field(
        default_factory=dict, description="Per location name: the channel limits in force there"
    )
    doors: list[DoorConfig] = Field(default_factory=list)
    auto_presets: bool = Field(
        True,
        description="Particle channels of a graded location without a limit get the grade's "
        "action limits",
    )
    preset_alert_fraction: float | None = Field(
        None, gt=0, lt=1, description="Alert limit of automatic presets, as a fraction"
    )
    preset_priority: Priority = Priority.HIGH
    require_signature_for_action: bool = Field(
        True, description="Acknowledging an action alarm needs an electronic signature"
    )
    max_shelve: Duration = Field(12 * 3600.0, description="Longest time an alarm may be shelved")
    peak_event_interval: Duration = Field(
        60.0, description="Least time between two peak records of one excursion"
    )
    calibration: CalibrationAlarmConfig = CalibrationAlarmConfig.model_construct()
    clock: ClockConfig = ClockConfig.model_construct()


def check_alarm_references(
    config: Config, channels: dict[str, tuple[str, ChannelSpec]] | None = None
) -> Iterator[tuple[Loc, str]]:
    """Cross-section checks of the alarm config; yields (location in YAML, message).

    ``channels`` (id -> (location, spec)) is the loader's, resolved once for all
    its checks; without it the channels are resolved here.
    """
    rooms = {room.name: room for room in config.rooms}
    loc_room = {loc.name: room for room in config.rooms for loc in room.locations}
    if channels is None:
        from .loader import resolve_channels  # the loader imports this module

        channels = {}
        for device in config.devices:
            profile = config.profiles.get(device.profile)
            if profile is None:
                continue
            for spec in resolve_channels(device, profile):
                channels[f"{device.name}/{spec.name}"] = (device.location, spec)
    for location, limits in config.alarms.limits.items():
        room = loc_room.get(location)
        if room is None:
            continue  # reported by the loader
        std = room.standard or config.standard
        for j, limit in enumerate(limits):
            info = channels.get(limit.channel)
            if info is None:
                continue  # reported by the loader
            if info[0] != location and info[0] in loc_room:
                yield ("alarms", "limits", location, j, "channel"), (
                    f"channel {limit.channel!r} belongs to location {info[0]!r}, not {location!r}"
                )
            if limit.between is not None:
                for name in limit.between:
                    if name not in rooms:
                        yield ("alarms", "limits", location, j, "between"), (
                            f"unknown room {name!r}"
                        )
            if (limit.high_action == "preset" or limit.at_rest is not None
                    or limit.in_operation is not None):  # else no state's action is 'preset'
                at = ("alarms", "limits", location, j)
                yield from _check_presets(limit, at, room.grade, std, info[1])
    for i, door in enumerate(config.alarms.doors):
        if door.channel not in channels:
            yield ("alarms", "doors", i, "channel"), f"unknown channel {door.channel!r}"
        for j, name in enumerate(door.suppress or []):
            if name not in channels:
                yield ("alarms", "doors", i, "suppress", j), f"unknown channel {name!r}"
    device_names = {d.name for d in config.devices}
    for name in config.alarms.health.devices:
        if name not in device_names:
            yield ("alarms", "health", "devices", name), f"unknown device {name!r}"
    for r, room in enumerate(config.rooms):
        for k, loc in enumerate(room.locations):
            source = getattr(loc.state, "input", None)
            if source is not None and source not in channels:
                yield (("rooms", r, "locations", k, "state", "input"),
                       f"unknown channel {source!r}")


def _check_presets(
    limit: LimitConfig, at: Loc, grade: str, std: Standard, spec: ChannelSpec
) -> Iterator[tuple[Loc, str]]:
    from monitor.alarms.presets import preset_limit, preset_table_name

    quantity, unit = spec.quantity, spec.unit
    for state in ("at_rest", "in_operation"):
        if limit.effective_high_action(state) != "preset":
            continue
        if quantity not in PARTICLE_QUANTITIES:
            yield (*at, "high_action"), (
                f"'preset' applies to particle channels ({', '.join(PARTICLE_QUANTITIES)}), "
                f"not {quantity!r}"
            )
            return
        if unit not in PARTICLE_UNITS:
            yield (*at, "high_action"), f"preset limits are particles/m3; the channel is in {unit}"
            return
        if preset_limit(std, grade, state, quantity) is None:
            table = preset_table_name(std, grade)
            yield (*at, "high_action"), (
                f"{table} gives no {quantity} limit for grade {grade} {state.replace('_', ' ')}; "
                f"set {state}.high_action explicitly"
            )
