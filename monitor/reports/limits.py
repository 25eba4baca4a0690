"""The limits a report compares readings with: exactly the alarm engine's, per location state.

The numbers come from the alarm engine's own rule tables (config values,
grade presets, alert fractions, per-state overrides all applied), so a report
can never judge a reading against a limit the engine did not use. They are the
limits of the configuration in force when the report is made; excursions
carry the limits in force when they were raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.config import LoadedConfig

NAMES = ("high_alert", "high_action", "low_alert", "low_action")


@dataclass(frozen=True)
class Limits:
    high_alert: float | None = None
    high_action: float | None = None
    low_alert: float | None = None
    low_action: float | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, object] | None) -> Limits:
        values = values or {}
        picked: dict[str, float | None] = {}
        for name in NAMES:
            value = values.get(name)
            picked[name] = float(value) if isinstance(value, int | float) else None
        return cls(**picked)

    @property
    def empty(self) -> bool:
        return all(getattr(self, n) is None for n in NAMES)

    def level(self, value: float) -> str | None:
        """``action``, ``alert`` or None: how far beyond its limits a value is (strictly)."""
        if (self.high_action is not None and value > self.high_action) or (
                self.low_action is not None and value < self.low_action):
            return "action"
        if (self.high_alert is not None and value > self.high_alert) or (
                self.low_alert is not None and value < self.low_alert):
            return "alert"
        return None


ChannelLimits = dict[str, Limits]  # location state -> limits


def channel_limits(loaded: LoadedConfig) -> dict[str, ChannelLimits]:
    """Per channel id, per location state (``at_rest``/``in_operation``): the limits in force."""
    from monitor.alarms.rules import build_tables

    out: dict[str, ChannelLimits] = {}
    tables = build_tables(loaded)
    for cid, ch in tables.channels.items():
        in_force = ch.in_force_by_state()
        if in_force:
            out[cid] = {str(v["state"]): Limits.from_mapping(v) for v in in_force}
    return out
