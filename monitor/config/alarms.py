"""Alarm limits and conditions as written in the site config.

A location lists ``limits`` per channel (``device/channel``). Particle action
limits may be left to the grade preset (``action: preset``); an explicit value
always overrides the preset.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from .base import ConfigModel, Name
from .durations import Duration


class Priority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class LimitConfig(ConfigModel):
    """Alert and action limits of one channel at one location."""

    channel: str = Field(description="'device/channel' this limit applies to")
    high_alert: float | None = None
    high_action: float | Literal["preset"] | None = None
    low_alert: float | None = None
    low_action: float | None = None
    alert_fraction: float | None = Field(
        None, gt=0, lt=1, description="Alert = this fraction of the action limit"
    )
    on_delay: Duration = 0.0
    off_delay: Duration = 0.0
    deadband: float = Field(0.0, ge=0)
    consecutive: int = Field(1, ge=1, description="n of the n-of-m rule")
    window: int = Field(1, ge=1, description="m of the n-of-m rule")
    priority_alert: Priority = Priority.MEDIUM
    priority_action: Priority = Priority.HIGH

    @model_validator(mode="after")
    def _ordered(self) -> LimitConfig:
        if self.consecutive > self.window:
            raise ValueError("consecutive (n) must not exceed window (m)")
        if (
            isinstance(self.high_action, float | int)
            and self.high_alert is not None
            and self.high_alert > self.high_action
        ):
            raise ValueError(
                f"high_alert {self.high_alert:g} is above high_action {self.high_action:g}"
            )
        if (
            self.low_action is not None
            and self.low_alert is not None
            and self.low_alert < self.low_action
        ):
            raise ValueError(
                f"low_alert {self.low_alert:g} is below low_action {self.low_action:g}"
            )
        if self.high_alert is not None and self.alert_fraction is not None:
            raise ValueError("give either high_alert or alert_fraction, not both")
        return self


class HealthConfig(ConfigModel):
    """Stale-data and communication alarms, the same for every channel unless overridden."""

    stale_after_intervals: int = Field(5, ge=1)
    stale_delay: Duration = 30.0
    comm_fail_delay: Duration = 30.0
    priority: Priority = Priority.HIGH


class AlarmsConfig(ConfigModel):
    health: HealthConfig = HealthConfig()
    limits: dict[Name, list[LimitConfig]] = Field(
        default_factory=dict, description="Per location name: the channel limits in force there"
    )
