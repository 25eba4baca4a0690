"""How numbers, units and times read on the operator's pages.

QA and operators read particle limits as "352,000", never "3.52e+05", so every
number on a page goes through here: grouped thousands, decimals that suit the
magnitude (12.5 Pa, 36.9 °C), whole numbers for particle concentrations (a
concentration is counts over a sampled volume: its decimals are noise). Units
are stored as configured (``degC``, ``particles/m3``); they are only
*displayed* as °C and particles/m³.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

NS = 1_000_000_000
DASH = "—"

_UNITS = {"degC": "°C", "degF": "°F", "deg C": "°C", "deg F": "°F", "degK": "K",
          "ug/m3": "µg/m³", "percent": "%"}
_POWER = re.compile(r"\b(m|cm|mm|dm|ft|in)([23])\b")
_SUPERSCRIPT = {"2": "²", "3": "³"}
_PARTICLES = re.compile(r"particles_(\d+)_(\d+)um")
_QUANTITIES = {"co2": "CO₂", "o2": "O₂", "rh": "relative humidity",
               "dp": "differential pressure"}


def display_unit(unit: str | None) -> str:
    """``particles/m3`` -> ``particles/m³``, ``degC`` -> ``°C``; for display only."""
    if not unit:
        return ""
    if unit in _UNITS:
        return _UNITS[unit]
    return _POWER.sub(lambda m: m.group(1) + _SUPERSCRIPT[m.group(2)], unit)


def is_count(unit: str | None) -> bool:
    """Particle concentrations are shown as whole numbers."""
    return bool(unit) and "particle" in str(unit).lower()


def quantity_label(quantity: str) -> str:
    """``particles_0_5um`` -> ``particles ≥0.5 µm``; ``relative_humidity`` -> words."""
    match = _PARTICLES.fullmatch(quantity)
    if match:
        return f"particles ≥{int(match.group(1))}.{match.group(2)} µm"
    return _QUANTITIES.get(quantity, quantity.replace("_", " "))


def words(identifier: str | None) -> str:
    """``comm_error`` -> ``comm error``: state and quality names as people write them."""
    return (identifier or "").replace("_", " ")


def number(value: float, decimals: int, *, strip: bool = False) -> str:
    """Grouped thousands with a fixed number of decimals; never "-0"."""
    text = f"{value:,.{max(decimals, 0)}f}"
    if strip and "." in text:
        text = text.rstrip("0").rstrip(".")
    if text.startswith("-") and not text.strip("-0.,"):
        text = text[1:]
    return text


def decimals_for(value: float) -> int:
    """Decimals a reading of this size is shown with: 352,000 · 741.6 · 15.19 · 0.953."""
    magnitude = abs(value)
    if magnitude >= 1000:
        return 0
    if magnitude >= 100:
        return 1
    if magnitude >= 1 or magnitude == 0:
        return 2
    return min(6, 2 - math.floor(math.log10(magnitude)))


def fmt_value(value: float | None, unit: str | None = None) -> str:
    """A reading's value (or a peak): fixed decimals so that table columns line up."""
    if value is None or not math.isfinite(value):
        return DASH
    return number(value, 0 if is_count(unit) else decimals_for(value))


def fmt_limit(value: float | None, unit: str | None = None) -> str:
    """A configured limit: as written, without trailing zeros (352,000 · 2,930 · 36.5 · 10)."""
    if value is None or not math.isfinite(value):
        return DASH
    if is_count(unit):
        return number(value, 0 if value == round(value) else 1, strip=True)
    return number(value, max(decimals_for(value), 3), strip=True)


def axis_decimals(step: float) -> int:
    """The fewest decimals that tell ticks ``step`` apart: 2.5 -> 1, 0.25 -> 2, 50,000 -> 0."""
    if not math.isfinite(step) or step <= 0:
        return 0
    for decimals in range(10):
        if abs(round(step, decimals) - step) <= step * 1e-6:
            return decimals
    return 10


def axis_labels(ticks: Sequence[float]) -> list[str]:
    """Tick labels of one axis, all with the same decimals (0 · 100,000 · 200,000)."""
    if len(ticks) < 2:
        return [number(t, 0 if t == round(t) else 2, strip=True) for t in ticks]
    decimals = axis_decimals(ticks[1] - ticks[0])
    return [number(t, decimals) for t in ticks]


# --- times -------------------------------------------------------------------------------


def utc(ts_ns: int) -> datetime:
    return datetime.fromtimestamp(ts_ns // NS, UTC)


def fmt_time(ts_ns: int | None) -> str:
    """``2026-11-26 03:45:21 UTC``"""
    return DASH if ts_ns is None else utc(ts_ns).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_clock(ts_ns: int | None) -> str:
    """``03:45:21``: the time of day, for a column headed UTC."""
    return DASH if ts_ns is None else utc(ts_ns).strftime("%H:%M:%S")


def fmt_span(start_ns: int, end_ns: int | None, *, open_text: str = "ongoing",
             duration: bool = False) -> str:
    """``2026-11-26 03:45:21 – 03:47:02 UTC`` (the date again only when it changes)."""
    first = utc(start_ns).strftime("%Y-%m-%d %H:%M:%S")
    if end_ns is None:
        return f"{first} UTC – {open_text}"
    end = utc(end_ns)
    same_day = end.date() == utc(start_ns).date()
    text = f"{first} – {end.strftime('%H:%M:%S' if same_day else '%Y-%m-%d %H:%M:%S')} UTC"
    return f"{text} ({fmt_duration((end_ns - start_ns) / NS)})" if duration else text


def fmt_duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 05 min``, ``2 d 4 h``."""
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def ns_of_iso(text: str | None) -> int | None:
    """The inverse of ``iso_utc`` (nanoseconds kept), for times the history view spells out."""
    if not text:
        return None
    head, _, frac = text.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(head).replace(tzinfo=UTC).timestamp()
    return int(seconds) * NS + int((frac + "000000000")[:9] or 0)


# --- limits ------------------------------------------------------------------------------


def limit_parts(limits: Mapping[str, Any] | None, unit: str | None = None) -> list[str]:
    """``alert ≤ 176,000`` / ``action ≤ 352,000``; both sides as a range: ``alert 17 – 23``."""
    if not limits:
        return []
    parts = []
    for level in ("alert", "action"):
        low, high = limits.get(f"low_{level}"), limits.get(f"high_{level}")
        if low is not None and high is not None:
            parts.append(f"{level} {fmt_limit(low, unit)} – {fmt_limit(high, unit)}")
        elif high is not None:
            parts.append(f"{level} ≤ {fmt_limit(high, unit)}")
        elif low is not None:
            parts.append(f"{level} ≥ {fmt_limit(low, unit)}")
    return parts


def limits_text(limits: Mapping[str, Any] | None, unit: str | None = None) -> str:
    return ", ".join(limit_parts(limits, unit)) or DASH
