"""Site configurations generated for benchmarks and fault tests.

A generated config is what a real site's would be at that scale: one
connection per networked device (a Modbus TCP device is its own server), a
location per device, rooms of 50 locations, alert and action limits on every
channel so that each reading is evaluated, and the embedded store under a
temporary ``data_dir``. ``write_config`` writes it as JSON (which is YAML, so
the loader reads it with line numbers like any file): the form a generator
writes. ``write_yaml_config`` writes the same site in YAML block style, the
form of the shipped examples and of a file maintained by hand; the start-up
benchmark measures both, since the loader reads JSON faster.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CHANNELS = 10
ROOM_SIZE = 50


def duration(seconds: float) -> str:
    """The config's duration syntax (bare numbers are refused there)."""
    return f"{round(seconds * 1000)}ms"


def bench_profile() -> dict[str, Any]:
    """10 holding registers, u16 x0.1: a generic 10-value environmental transmitter."""
    return {
        "kind": "generic",
        "family": "generic",
        "source": "generic: benchmark profile, 10 holding registers u16 x0.1",
        "channels": [
            {"name": f"c{i}", "quantity": "temperature", "unit": "degC", "address": i,
             "type": "u16", "scale": 0.1, "range": [0, 6553.5]}
            for i in range(CHANNELS)
        ],
    }


def modbus_site(
    data_dir: Path,
    devices: int,
    ports: Sequence[int],
    *,
    host: str = "127.0.0.1",
    poll_interval: float = 1.0,
    timeout: float = 1.0,
    limits: bool = True,
    high_alert: float = 90.0,
    high_action: float = 95.0,
    http_port: int | None = None,
    sinks: Sequence[dict[str, Any]] = (),
    commit_interval: float = 0.5,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``devices`` Modbus TCP devices spread over the farm's ``ports`` (unit ids 1..247)."""
    width = max(4, len(str(devices)))
    names = [f"d{i:0{width}d}" for i in range(devices)]
    locations = [f"loc-{n}" for n in names]
    rooms = [
        {"name": f"room-{r:03d}", "grade": "C",
         "locations": [{"name": loc} for loc in locations[r * ROOM_SIZE:(r + 1) * ROOM_SIZE]]}
        for r in range((devices + ROOM_SIZE - 1) // ROOM_SIZE)
    ]
    config: dict[str, Any] = {
        "site": {"id": "bench", "name": "Benchmark site"},
        "data_dir": str(data_dir),
        "log": {"level": "warning"},
        "profiles": {"bench-10reg": bench_profile()},
        "connections": [
            {"name": f"gw-{n}", "driver": "modbus_tcp", "host": host,
             "port": ports[i % len(ports)], "timeout": duration(timeout), "retries": 0}
            for i, n in enumerate(names)
        ],
        "devices": [
            {"name": n, "connection": f"gw-{n}", "location": locations[i],
             "profile": "bench-10reg", "unit_id": (i % 247) + 1,
             "poll_interval": duration(poll_interval)}
            for i, n in enumerate(names)
        ],
        "rooms": rooms,
        "storage": {"embedded": {"commit_interval": duration(commit_interval)},
                    "sinks": list(sinks)},
        "http": ({"enabled": True, "port": http_port} if http_port
                 else {"enabled": False}),
    }
    if limits:
        config["alarms"] = {"limits": {
            loc: [{"channel": f"{n}/c{c}", "high_alert": high_alert, "high_action": high_action}
                  for c in range(CHANNELS)]
            for n, loc in zip(names, locations, strict=True)
        }}
    if extra:
        config.update(extra)
    return config


def write_config(path: Path, config: dict[str, Any]) -> Path:
    """The site as JSON, indented (one key or item per line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    return path


def write_yaml_config(path: Path, config: dict[str, Any]) -> Path:
    """The site in YAML block style (innermost lists and maps inline), keys in the order
    given, as a person writes it."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=False)
    yaml.default_flow_style = None  # leaf lists and maps inline: `range: [0, 6553.5]`
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        yaml.dump(config, out)
    return path
