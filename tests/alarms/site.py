"""A small site for alarm tests, and a harness that drives the pure engine on a fake clock."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from monitor.alarms.engine import AlarmEngine
from monitor.alarms.events import AlarmEvent, AlarmState
from monitor.alarms.rules import build_tables
from monitor.config import LoadedConfig, load_config
from monitor.model import Quality, Reading

T0 = 1_800_000_000_000_000_000  # 2027-01-15T08:00:00Z, a Friday
S = 1_000_000_000

BASE: dict[str, Any] = {
    "site": {"id": "plant-a", "name": "Plant A", "timezone": "UTC"},
    "profiles": {
        "pc": {"kind": "generic", "family": "generic", "source": "generic", "channels": [
            {"name": "p05", "quantity": "particles_0_5um", "unit": "particles/m3",
             "address": 0, "type": "u32"},
            {"name": "p50", "quantity": "particles_5_0um", "unit": "particles/m3",
             "address": 2, "type": "u32"},
        ]},
        "dp": {"kind": "differential_pressure", "family": "generic", "source": "generic",
               "channels": [
                   {"name": "dp", "quantity": "differential_pressure", "unit": "Pa",
                    "address": 0, "type": "s16", "scale": 0.1},
                   {"name": "door", "quantity": "door", "unit": "1", "address": 1},
               ]},
        "th": {"kind": "temperature_humidity", "family": "generic", "source": "generic",
               "channels": [
                   {"name": "t", "quantity": "temperature", "unit": "degC", "address": 0,
                    "type": "f32"},
                   {"name": "rh", "quantity": "relative_humidity", "unit": "%RH", "address": 2,
                    "type": "f32"},
               ]},
    },
    "connections": [{"name": "gw", "driver": "modbus_tcp", "host": "127.0.0.1", "port": 1502}],
    "rooms": [{"name": "fill", "grade": "B", "locations": [{"name": "fill-1"}]}],
    "devices": [
        {"name": "pc1", "connection": "gw", "location": "fill-1", "profile": "pc",
         "unit_id": 1, "poll_interval": "1s"},
        {"name": "dp1", "connection": "gw", "location": "fill-1", "profile": "dp",
         "unit_id": 2, "poll_interval": "1s"},
        {"name": "th1", "connection": "gw", "location": "fill-1", "profile": "th",
         "unit_id": 3, "poll_interval": "1s"},
    ],
    "alarms": {"health": {"enabled": False}},
}


def site(tmp_path: Path, *, alarms: dict[str, Any] | None = None,
         rooms: list[dict[str, Any]] | None = None, standard: str | None = None,
         name: str = "site.yaml", **top: Any) -> LoadedConfig:
    """Write the base site with the given sections replaced, and load it (JSON is YAML)."""
    doc = copy.deepcopy(BASE)
    doc["data_dir"] = str(tmp_path / "data")
    if alarms is not None:
        doc["alarms"] = alarms
    if rooms is not None:
        doc["rooms"] = rooms
    if standard is not None:
        doc["standard"] = standard
    doc.update(top)
    path = tmp_path / name
    path.write_text(json.dumps(doc, indent=1))
    return load_config(path)


def limits(*entries: dict[str, Any], health: bool = False, **extra: Any) -> dict[str, Any]:
    """An ``alarms`` section with limits at fill-1."""
    out: dict[str, Any] = {"limits": {"fill-1": list(entries)}, **extra}
    if not health:
        out["health"] = {"enabled": False}
    return out


def at(seconds: float) -> int:
    return T0 + round(seconds * S)


class Harness:
    """The pure engine with times in seconds after T0."""

    def __init__(self, loaded: LoadedConfig, start: float = 0.0) -> None:
        self.engine = AlarmEngine(build_tables(loaded), loaded.config.alarms,
                                  start_ns=at(start), id_prefix="t-")
        self.events: list[AlarmEvent] = []

    def feed(self, channel: str, value: Any, t: float,
             quality: Quality = Quality.GOOD, detail: str | None = None) -> list[AlarmEvent]:
        out = self.engine.evaluate([Reading(channel, value, quality, at(t), detail=detail)])
        self.events.extend(out)
        return out

    def series(self, channel: str, values: list[float], start: float = 0.0,
               step: float = 1.0) -> list[AlarmEvent]:
        out: list[AlarmEvent] = []
        for i, value in enumerate(values):
            out.extend(self.feed(channel, value, start + i * step))
        return out

    def tick(self, t: float) -> list[AlarmEvent]:
        out = self.engine.tick(at(t))
        self.events.extend(out)
        return out

    def state(self, key: str) -> AlarmState:
        return self.engine.t.points[key].state

    def kinds(self, key: str | None = None) -> list[str]:
        return [str(e.kind) for e in self.events if key is None or e.point == key]
