"""Payloads a device would publish, built from its profile's MQTT mapping.

The inverse of the driver's mapping: for each topic of a device, the channels
published there are written into one message, a plain number or a JSON
document with the value, unit and timestamp at the paths the profile names.
So a profile that the daemon reads is, by construction, a profile the
simulator can speak, and a mapping mistake shows up as a test failure.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.config.devices import ChannelSpec, ProfileConfig
from monitor.config.mqtt import is_wildcard, parse_json_path


@dataclass(frozen=True)
class TopicPlan:
    """One topic of a simulated device and the channels its message carries."""

    topic: str
    channels: tuple[ChannelSpec, ...]
    json: bool


def plan_topics(profile: ProfileConfig, base_topic: str | None) -> list[TopicPlan]:
    """Group a profile's channels by the concrete topic they are published on."""
    grouped: dict[str, list[ChannelSpec]] = {}
    for spec in profile.channels:
        topic = spec.topic or base_topic
        if topic is None:
            raise ValueError(f"channel {spec.name!r} has no topic and the device has none")
        if "{topic}" in topic:
            if base_topic is None:
                raise ValueError(f"channel {spec.name!r} uses {{topic}}: give the device a topic")
            topic = topic.replace("{topic}", base_topic)
        if is_wildcard(topic):
            continue  # a filter the daemon listens on, not a topic a device publishes to
        grouped.setdefault(topic, []).append(spec)
    plans = []
    for topic, specs in grouped.items():
        is_json = any(_is_json(s) for s in specs)
        if not is_json and len(specs) > 1:
            raise ValueError(f"topic {topic!r}: several plain-number channels share it")
        plans.append(TopicPlan(topic, tuple(specs), is_json))
    return plans


def _is_json(spec: ChannelSpec) -> bool:
    return spec.payload == "json" or (spec.payload is None and bool(spec.json_path))


def raw_value(spec: ChannelSpec, physical: float) -> Any:
    """What the device sends for a physical value: unscaled, mapped to text if the profile does."""
    if math.isnan(physical):
        return physical
    raw = round((physical - spec.offset) / spec.scale, 3)  # devices send a few decimals
    for text, number in spec.value_map.items():
        if number == raw:
            if text in ("true", "false"):
                return text == "true"
            return text
    return raw


def format_timestamp(when: float, fmt: str) -> Any:
    if fmt in ("iso8601", "auto"):
        return datetime.fromtimestamp(when, UTC).isoformat(timespec="milliseconds")
    scale = {"s": 1, "ms": 1000, "us": 1_000_000, "ns": 1_000_000_000}[fmt]
    return round(when * scale) if fmt != "s" else round(when, 3)


def _put(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node: Any = doc
    for step, following in zip(path, [*path[1:], None], strict=True):
        if following is None:
            _assign(node, step, value)
            return
        child = _get(node, step)
        if child is None:
            child = [] if isinstance(following, int) else {}
            _assign(node, step, child)
        node = child


def _get(node: Any, step: str | int) -> Any:
    if isinstance(step, int):
        return node[step] if step < len(node) else None
    return node.get(step)


def _assign(node: Any, step: str | int, value: Any) -> None:
    if isinstance(step, int):
        while len(node) <= step:
            node.append(None)
        node[step] = value
    else:
        node[step] = value


def build_payload(plan: TopicPlan, values: Mapping[str, float], now: float) -> bytes:
    """The message for ``plan`` from physical values keyed by quantity (missing: skipped)."""
    if not plan.json:
        spec = plan.channels[0]
        value = raw_value(spec, values.get(spec.quantity, math.nan))
        return value.encode() if isinstance(value, str) else repr(float(value)).encode()
    doc: dict[str, Any] = {}
    for spec in plan.channels:
        if spec.quantity not in values:
            continue
        raw = raw_value(spec, values[spec.quantity])
        if spec.json_path:
            _put(doc, parse_json_path(spec.json_path), raw)
        if spec.unit_path:
            unit = spec.payload_unit if spec.payload_unit is not None else spec.unit
            _put(doc, parse_json_path(spec.unit_path), unit)
        if spec.timestamp_path:
            _put(doc, parse_json_path(spec.timestamp_path),
                 format_timestamp(now, spec.timestamp_format))
    return json.dumps(doc, separators=(",", ":")).encode()
