"""A live console view of a running daemon: readings every few seconds, alarm changes at once.

Used by ``cleanroom-monitor demo``; an operator at a terminal sees what the
web page shows, without a browser.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from monitor.config import LoadedConfig
from monitor.model import Quality, Reading

_COLOURS = {"action": "\033[1;31m", "alert": "\033[1;33m", "health": "\033[1;35m",
            "ok": "\033[32m", "end": "\033[0m"}


class LiveConsole:
    """Reading listener + event listener that print to a terminal."""

    def __init__(self, loaded: LoadedConfig, *, every: float = 5.0, out: TextIO | None = None,
                 colour: bool | None = None) -> None:
        self.loaded = loaded
        self.every = every
        self.out = out or sys.stdout
        self.colour = self.out.isatty() if colour is None else colour
        self._latest: dict[str, Reading] = {}
        self._next_print = time.monotonic() + every
        self._last_print = 0.0
        self.events_printed = 0
        self.readings_seen = 0

    def _c(self, key: str, text: str) -> str:
        return f"{_COLOURS[key]}{text}{_COLOURS['end']}" if self.colour else text

    def on_readings(self, readings: Sequence[Reading]) -> None:
        for reading in readings:
            self._latest[reading.channel] = reading
        self.readings_seen += len(readings)
        now = time.monotonic()
        if now >= self._next_print:
            self._next_print = now + self.every
            self.print_table()

    def print_table(self, unless_printed_within: float = 0.0) -> None:
        now = time.monotonic()
        if unless_printed_within and now - self._last_print < unless_printed_within:
            return
        self._last_print = now
        stamp = time.strftime("%H:%M:%S", time.gmtime())
        lines = [f"── readings at {stamp} UTC ({self.readings_seen} so far) " + "─" * 30]
        rows: dict[tuple[str, str], list[str]] = {}
        for cid in sorted(self._latest):
            reading = self._latest[cid]
            info = self.loaded.channels.get(cid)
            if info is None:
                continue
            value = "—" if reading.value is None else _fmt(reading.value)
            quality = "" if reading.quality is Quality.GOOD else f"[{reading.quality.value}]"
            unit = _short_unit(info.spec.unit)
            rows.setdefault((f"{info.location} ({info.grade})", info.device), []).append(
                f"{info.spec.name}={value}{unit}{quality}"
            )
        for (location, device), values in rows.items():
            lines.append(f"  {location:<16} {device:<6} " + "  ".join(values))
        print("\n".join(lines), file=self.out, flush=True)

    def on_events(self, events: Sequence[Any]) -> None:
        for event in events:
            doc = event.to_json() if hasattr(event, "to_json") else dict(vars(event))
            print(self.format_event(doc), file=self.out, flush=True)
            self.events_printed += 1

    def format_event(self, doc: dict[str, Any]) -> str:
        stamp = time.strftime("%H:%M:%S", time.gmtime(int(doc.get("ts_ns") or 0) / 1e9))
        kind = str(doc.get("kind") or "")
        if kind == "location_state":
            source = (doc.get("details") or {}).get("source", "")
            return (f"STATE {stamp} UTC  {doc.get('location')}  {doc.get('location_state')}"
                    + (f"  (source: {source})" if source else "")
                    + (f"  by {doc['user']}" if doc.get("user") not in (None, "system") else ""))
        level = str(doc.get("level") or "")
        key = level if level in ("action", "alert", "health") else "ok"
        if kind in ("cleared", "normal", "ended", "returned"):
            key = "ok"
        value, limit = doc.get("value"), doc.get("limit")
        text = (
            f"ALARM {stamp} UTC  #{doc.get('alarm_id', '-')}  {kind:<8} {level.upper():<6} "
            f"{doc.get('location', '')}  {doc.get('point', '')}  → {doc.get('state', '')}"
            + (f"  value={_fmt(float(value))}" if isinstance(value, int | float) else "")
            + (f"  limit={_fmt(float(limit))}" if isinstance(limit, int | float) else "")
            + (f"  [{doc['priority']}]" if doc.get("priority") else "")
            + (f"  by {doc['user']}" if doc.get("user") else "")
            + (f": {doc['reason']}" if doc.get("reason") else "")
        )
        return self._c(key, text)


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if abs(value) >= 10000:
        return f"{value:,.0f}"
    return f"{value:.4g}" if abs(value) < 100 else f"{value:.1f}"


def _short_unit(unit: str) -> str:
    return {"particles/m3": "/m³", "degC": "°C", "%RH": "%RH", "%": "%", "Pa": " Pa",
            "L": " L", "open": "", "active": ""}.get(unit, f" {unit}")
