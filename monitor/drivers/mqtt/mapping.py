"""Payload mappings: from (topic, payload bytes) to readings, compiled once at start.

Every channel says where its value is (a topic, and for JSON a path). Channels
that share a topic share one decoder, so one JSON message with six values is
parsed once and gives six readings. Lookups are keyed by the topic's raw bytes
so the per-message path neither decodes the topic nor matches wildcards: a
topic seen once is remembered.

A payload that cannot be read never raises: the decoder returns what was wrong
(for the per-topic error counter) and, for every channel of that topic, a
reading of quality ``invalid`` that says why.

JSON is parsed with orjson (about 6x faster than ``json.loads`` here); what
orjson refuses is parsed again with the standard library, whose answer
(NaN, numbers beyond a float, a byte order mark, nesting too deep, or the
exact error) is what decides, so a payload's readings and problem do not
depend on which parser read it. A channel whose value sits under one key of
the top-level object and arrives as a finite float takes a short path; every
other value goes through the full checks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from orjson import loads as _fast_loads

from monitor.config.devices import ChannelSpec
from monitor.config.mqtt import (
    JsonPath,
    channel_topic,
    filter_covers,
    is_wildcard,
    parse_json_path,
    topic_matches,
)
from monitor.drivers.base import DeviceBinding
from monitor.model import Quality, Reading, channel_id, new_reading

_MISSING: Any = object()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_CACHE_LIMIT = 100_000
_INVALID = Quality.INVALID
_GOOD = Quality.GOOD
_OUT_OF_RANGE = Quality.OUT_OF_RANGE
_EPOCH_SCALE = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1000, "ns": 1}
_NS_LIMIT = 2**63  # a timestamp the store (signed 64-bit) can hold
_TS_KEYS: dict[tuple[JsonPath, str], tuple[JsonPath, str]] = {}

Problem = tuple[str, str]
"""(kind, detail): what was wrong with a payload, for the counters and the log."""


def walk(doc: Any, path: JsonPath) -> Any:
    """The value at ``path`` in a decoded JSON document, or ``_MISSING``."""
    for step in path:
        if type(step) is str:
            if type(doc) is not dict:
                return _MISSING
            doc = doc.get(step, _MISSING)
            if doc is _MISSING:
                return _MISSING
        else:
            if type(doc) is not list or step >= len(doc):  # type: ignore[operator]
                return _MISSING
            doc = doc[step]  # type: ignore[index]
    return doc


def to_number(value: Any, value_map: dict[str, float]) -> float | str:
    """A finite float, or the reason the value is not one (as a ``str``)."""
    kind = type(value)
    if kind is float:
        number: float = value
    elif kind is int:
        try:
            number = float(value)
        except OverflowError:
            return "number too large"
    elif kind is bool:
        key = "true" if value else "false"
        return value_map.get(key, 1.0 if value else 0.0)
    elif kind is str:
        mapped = value_map.get(value)
        if mapped is None:
            return f"text {value[:20]!r} where a number was expected"
        return mapped
    elif value is None:
        return "null value"
    else:
        return f"{kind.__name__} where a number was expected"
    if number - number != 0.0:  # NaN or infinite, cheaper than math.isfinite
        return "not a finite number"
    return number


def to_timestamp_ns(value: Any, fmt: str) -> int | str:
    """UTC ns from an epoch number (s/ms/us/ns) or an ISO 8601 string with a zone."""
    kind = type(value)
    if kind is int and fmt in _EPOCH_SCALE:  # the usual case: an epoch integer
        ns = value * _EPOCH_SCALE[fmt]
        return ns if 0 <= ns < _NS_LIMIT else "timestamp is not a positive 64-bit time"
    if kind is str:
        if fmt not in ("auto", "iso8601"):
            return f"timestamp is text, expected epoch {fmt}"
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return f"timestamp {value[:40]!r} is not ISO 8601"
        if when.tzinfo is None:
            return "timestamp has no time zone (write Z or +00:00)"
        micros = (when - _EPOCH) // _US
        return int(micros) * 1000
    if kind not in (int, float) or fmt == "iso8601":
        return f"timestamp is {kind.__name__}, expected {fmt}"
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        return "timestamp is not a positive 64-bit time"
    if not math.isfinite(number) or number < 0:
        return "timestamp is not a positive finite number"
    if fmt == "auto":  # by magnitude: seconds until 5138, then ms, us, ns
        fmt = "s" if number < 1e11 else "ms" if number < 1e14 else "us" if number < 1e17 else "ns"
    scale = _EPOCH_SCALE[fmt]
    ns = int(value) * scale if kind is int else round(number * scale)
    return ns if ns < _NS_LIMIT else "timestamp is not a positive 64-bit time"


@dataclass(frozen=True, slots=True)
class ChannelDecoder:
    """Everything needed to turn one channel's raw value into a reading."""

    channel: str
    device: str
    path: JsonPath
    unit_path: JsonPath | None
    unit: str
    ts_key: tuple[JsonPath, str] | None
    scale: float
    offset: float
    low: float
    high: float
    value_map: dict[str, float]
    sentinels: frozenset[float]
    key: str | None  # the value's key when ``path`` is one key of the top-level object
    fast: bool  # no unit to check and no sentinel values: a finite float needs no more

    @classmethod
    def build(cls, device: str, spec: ChannelSpec) -> ChannelDecoder:
        low, high = spec.range if spec.range is not None else (-math.inf, math.inf)
        path = parse_json_path(spec.json_path) if spec.json_path else ()
        unit_path = parse_json_path(spec.unit_path) if spec.unit_path else None
        sentinels = frozenset(float(v) for v in spec.nan_values)
        ts_key = None
        if spec.timestamp_path:  # one object per distinct key: the decoder compares with `is`
            key = (parse_json_path(spec.timestamp_path), spec.timestamp_format)
            ts_key = _TS_KEYS.setdefault(key, key)
        return cls(
            channel=channel_id(device, spec.name),
            device=device,
            path=path,
            unit_path=unit_path,
            unit=spec.payload_unit if spec.payload_unit is not None else spec.unit,
            ts_key=ts_key,
            scale=spec.scale,
            offset=spec.offset,
            low=low,
            high=high,
            value_map=dict(spec.value_map),
            sentinels=sentinels,
            key=path[0] if len(path) == 1 and type(path[0]) is str else None,
            fast=unit_path is None and not sentinels,
        )

    def reading(self, raw: float, ts_ns: int, device_ts: int | None) -> Reading:
        if raw in self.sentinels:
            return new_reading(Reading, (self.channel, None, _INVALID, ts_ns, raw, device_ts,
                                         "sentinel value"))
        value = raw * self.scale + self.offset
        if value < self.low or value > self.high:
            return new_reading(Reading, (self.channel, value, _OUT_OF_RANGE, ts_ns, raw,
                                         device_ts, f"outside [{self.low:g}, {self.high:g}]"))
        return new_reading(Reading, (self.channel, value, _GOOD, ts_ns, raw, device_ts, None))

    def invalid(self, ts_ns: int, detail: str, raw: float | None = None) -> Reading:
        return new_reading(Reading, (self.channel, None, _INVALID, ts_ns, raw, None, detail))


class TopicDecoder:
    """The channels fed by one concrete topic; ``decode`` is the per-message hot path."""

    __slots__ = ("devices", "json_channels", "max_payload", "number_channels", "topic")

    def __init__(self, topic: str, channels: Sequence[tuple[ChannelDecoder, bool]],
                 max_payload: int) -> None:
        self.topic = topic
        self.number_channels = tuple(c for c, is_json in channels if not is_json)
        self.json_channels = tuple(c for c, is_json in channels if is_json)
        self.devices = tuple(sorted({c.device for c, _ in channels}))
        self.max_payload = max_payload

    def decode(self, payload: bytes, ts_ns: int, out: list[Reading]) -> Problem | None:
        """Append this message's readings to ``out``; return what was wrong, if anything."""
        if len(payload) > self.max_payload:
            detail = f"payload of {len(payload)} bytes exceeds max_payload {self.max_payload}"
            self._invalid(self.number_channels + self.json_channels, ts_ns, "payload too large",
                          out)
            return "too_large", detail
        problem = None
        if self.number_channels:
            problem = self._decode_number(payload, ts_ns, out)
        if self.json_channels:
            json_problem = self._decode_json(payload, ts_ns, out)
            problem = problem or json_problem
        return problem

    @staticmethod
    def _invalid(channels: tuple[ChannelDecoder, ...], ts_ns: int, detail: str,
                 out: list[Reading]) -> None:
        for ch in channels:
            out.append(ch.invalid(ts_ns, detail))

    def _decode_number(self, payload: bytes, ts_ns: int, out: list[Reading]) -> Problem | None:
        try:
            number: float | str = float(payload)
        except ValueError:
            number = ""
        problem = None
        for ch in self.number_channels:
            value = number
            if type(value) is str:  # not a number: maybe a mapped word such as OPEN
                text = payload.decode("utf-8", "replace").strip()
                value = ch.value_map.get(text, f"text {text[:20]!r} where a number was expected")
            elif value - value != 0.0:  # type: ignore[operator]
                value = "not a finite number"
            if type(value) is str:
                out.append(ch.invalid(ts_ns, value))
                problem = problem or ("bad_value", value)
            else:
                out.append(ch.reading(value, ts_ns, None))  # type: ignore[arg-type]
        return problem

    def _decode_json(self, payload: bytes, ts_ns: int, out: list[Reading]) -> Problem | None:
        try:
            doc = _fast_loads(payload)
        except ValueError:  # the standard library decides what is wrong, or reads it after all
            try:
                doc = json.loads(payload)
            except RecursionError:
                self._invalid(self.json_channels, ts_ns, "JSON nested too deeply", out)
                return "bad_json", "JSON nested too deeply"
            except ValueError as err:  # JSONDecodeError, UnicodeDecodeError, int digit limit
                detail = f"bad JSON: {str(err)[:80]}"
                self._invalid(self.json_channels, ts_ns, "bad JSON", out)
                return "bad_json", detail
        return self._fill(doc, ts_ns, out)

    def _fill(self, doc: Any, ts_ns: int, out: list[Reading]) -> Problem | None:
        """The readings of one decoded document, in channel order; the first problem."""
        problem: Problem | None = None
        append = out.append
        is_dict = type(doc) is dict
        last_key: tuple[JsonPath, str] | None = None  # the device time last read, by its key
        last_ts: int | None = None
        for ch in self.json_channels:
            key = ch.key
            if key is not None:
                raw = doc.get(key, _MISSING) if is_dict else _MISSING
            else:
                raw = walk(doc, ch.path) if ch.path else doc
            if type(raw) is float and ch.fast and raw - raw == 0.0:
                value: float | str = raw
            elif raw is _MISSING:
                detail = f"no field {'.'.join(map(str, ch.path))}"
                append(ch.invalid(ts_ns, detail))
                problem = problem or ("missing_field", detail)
                continue
            else:
                value = to_number(raw, ch.value_map)
                if type(value) is str:
                    append(ch.invalid(ts_ns, value, raw if type(raw) is float else None))
                    problem = problem or ("bad_value", value)
                    continue
                if ch.unit_path is not None:
                    unit = walk(doc, ch.unit_path)
                    if unit != ch.unit:
                        shown = "none" if unit is _MISSING else repr(unit)[:20]
                        detail = f"unit {shown}, expected {ch.unit!r}"
                        append(ch.invalid(ts_ns, detail, value))  # type: ignore[arg-type]
                        problem = problem or ("bad_unit", detail)
                        continue
            ts_key = ch.ts_key
            if ts_key is None:
                device_ts = None
            elif ts_key is last_key:
                device_ts = last_ts
            else:
                stamp = walk(doc, ts_key[0])
                parsed = ("no timestamp field" if stamp is _MISSING
                          else to_timestamp_ns(stamp, ts_key[1]))
                if type(parsed) is str:
                    problem = problem or ("bad_timestamp", parsed)
                    device_ts = None
                else:
                    device_ts = parsed  # type: ignore[assignment]
                last_key, last_ts = ts_key, device_ts
            number = value * ch.scale + ch.offset  # type: ignore[operator]
            if ch.fast and ch.low <= number <= ch.high:
                append(new_reading(Reading, (ch.channel, number, _GOOD, ts_ns, value, device_ts,
                                             None)))
            else:
                append(ch.reading(value, ts_ns, device_ts))  # type: ignore[arg-type]
        return problem


class TopicRouter:
    """Topic bytes -> decoder, exact topics precomputed, wildcard matches remembered."""

    def __init__(self, devices: Sequence[DeviceBinding], max_payload: int) -> None:
        self.max_payload = max_payload
        self._exact: dict[str, list[tuple[ChannelDecoder, bool]]] = {}
        self._filters: dict[str, list[tuple[ChannelDecoder, bool]]] = {}
        for binding in devices:
            for spec in binding.channels:
                topic = channel_topic(spec, binding.config)
                if topic is None:  # the loader refuses this; be safe for hand-made bindings
                    raise ValueError(f"channel {binding.name}/{spec.name} has no MQTT topic")
                is_json = spec.payload == "json" or (spec.payload is None and bool(spec.json_path))
                target = self._filters if is_wildcard(topic) else self._exact
                target.setdefault(topic, []).append((ChannelDecoder.build(binding.name, spec),
                                                     is_json))
        self._cache: dict[bytes, TopicDecoder | None] = {}
        self._prime()

    def _prime(self) -> None:
        self._cache.clear()
        for topic in self._exact:
            self._cache[topic.encode()] = self._compile(topic)

    def _compile(self, topic: str) -> TopicDecoder | None:
        channels = list(self._exact.get(topic, ()))
        for filter_, members in self._filters.items():
            if topic_matches(filter_, topic):
                channels.extend(members)
        return TopicDecoder(topic, channels, self.max_payload) if channels else None

    def lookup(self, topic: bytes) -> TopicDecoder | None:
        """The decoder of a topic, or None for a topic no channel listens to."""
        try:
            return self._cache[topic]
        except KeyError:
            pass
        if len(self._cache) >= _CACHE_LIMIT:
            self._prime()
        decoder = self._compile(topic.decode("utf-8", "replace"))
        self._cache[topic] = decoder
        return decoder

    def subscriptions(self) -> list[str]:
        """The fewest filters that cover every channel topic."""
        topics = sorted(set(self._exact) | set(self._filters))
        kept: list[str] = []
        for topic in topics:
            if any(other != topic and filter_covers(other, topic) for other in topics):
                continue
            kept.append(topic)
        return kept

    @property
    def channels(self) -> list[ChannelDecoder]:
        out = [c for members in self._exact.values() for c, _ in members]
        out += [c for members in self._filters.values() for c, _ in members]
        return out
