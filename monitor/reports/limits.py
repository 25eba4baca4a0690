"""The limits a report compares readings with: exactly the alarm engine's, per location state.

The numbers come from the alarm engine's own rule tables (config values,
grade presets, alert fractions, per-state overrides all applied), so a report
can never judge a reading against a limit the engine did not use. They are the
limits of the configuration in force when the report is made; excursions
carry the limits in force when they were raised.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.alarms.table import Tables
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


#: id(LoadedConfig) -> (the config, the running alarm engine's tables for it)
_RUNNING: dict[int, tuple[weakref.ref[LoadedConfig], Tables]] = {}


def use_running_tables(loaded: LoadedConfig, tables: Tables) -> None:
    """Reports on ``loaded`` read its limits from ``tables``, the running engine's own.

    Called by ``build_runtime``: a report made while the daemon runs then needs
    neither the config's limit entries (packed once the runtime is built,
    ``monitor.config.resident``) nor tables of its own (at 2,000 devices ~0.2 s
    and ~17 MB that stayed in the daemon's RSS after each report). The entry
    goes with ``loaded``; another config (a CLI report, the next reload) builds
    its own tables as before.
    """
    key = id(loaded)
    _RUNNING[key] = (weakref.ref(loaded), tables)
    weakref.finalize(loaded, _RUNNING.pop, key, None)


def channel_limits(loaded: LoadedConfig) -> dict[str, ChannelLimits]:
    """Per channel id, per location state (``at_rest``/``in_operation``): the limits in force."""
    running = _RUNNING.get(id(loaded))
    if running is not None and running[0]() is loaded:
        tables = running[1]
    else:
        from monitor.alarms.rules import build_tables

        tables = build_tables(loaded)
    out: dict[str, ChannelLimits] = {}
    for cid, ch in tables.channels.items():
        in_force = ch.in_force_by_state()
        if in_force:
            out[cid] = {str(v["state"]): Limits.from_mapping(v) for v in in_force}
    return out
