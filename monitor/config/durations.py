"""Durations written the way people write them: ``500ms``, ``30s``, ``5m``, ``2h``, ``7d``."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)\s*$")


#: text -> seconds, of the texts parsed so far: 2,000 devices' ``poll_interval: 1s`` and
#: ``timeout: 500ms`` are two texts, parsed once each instead of 4,000 times (~4 ms a load)
_PARSED: dict[str, float] = {}
_PARSED_MAX = 4096


def parse_duration(value: object) -> float:
    """Seconds as a float. Bare numbers are refused: ``30`` could mean seconds or minutes."""
    if type(value) is str:
        seconds = _PARSED.get(value)
        if seconds is not None:
            return seconds
        match = _PATTERN.match(value)
        if match:
            seconds = float(match.group(1)) * _UNITS[match.group(2)]
            if len(_PARSED) < _PARSED_MAX:
                _PARSED[value] = seconds
            return seconds
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '500ms', '30s', '5m'")
    if isinstance(value, int | float) and value == 0:
        return 0.0
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2)]
    raise ValueError(f"expected a duration such as '500ms', '30s', '5m', got {value!r}")


def format_duration(seconds: float) -> str:
    if seconds and seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds % 86400 == 0 and seconds:
        return f"{int(seconds // 86400)}d"
    if seconds % 3600 == 0 and seconds:
        return f"{int(seconds // 3600)}h"
    if seconds % 60 == 0 and seconds:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A duration in seconds, written in YAML as ``500ms``/``30s``/``5m``/``2h``/``7d``."""
