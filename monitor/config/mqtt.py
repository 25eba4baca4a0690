"""MQTT topics and JSON paths as written in the config, checked once at load time.

A channel of an MQTT device names the topic its value arrives on (``{topic}``
stands for the device's base topic) and, for JSON payloads, the path of the
value, of its unit and of the device's timestamp. The driver compiles these
into lookups when it starts; everything that can be wrong with them is
reported here, with the file and line, before the daemon starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .devices import ChannelSpec, DeviceConfig, MqttConnection

JsonPath = tuple[str | int, ...]

_SEGMENT = re.compile(r"([^.\[\]]+)?((?:\[\d+\])*)$")
_INDEX = re.compile(r"\[(\d+)\]")


def parse_json_path(path: str) -> JsonPath:
    """``a.b[0].c`` -> ``("a", "b", 0, "c")``; a leading ``$.`` is accepted and ignored.

    Keys are matched exactly (case-sensitive); an integer step indexes a list.
    """
    text = path.strip()
    if text.startswith("$."):
        text = text[2:]
    elif text == "$":
        return ()
    if not text:
        raise ValueError("empty JSON path")
    steps: list[str | int] = []
    for segment in text.split("."):
        match = _SEGMENT.match(segment)
        if not segment or match is None or (match.group(1) is None and not match.group(2)):
            raise ValueError(f"bad JSON path {path!r}: write it as key.key[0].key")
        if match.group(1) is not None:
            steps.append(match.group(1))
        steps.extend(int(i) for i in _INDEX.findall(match.group(2)))
    return tuple(steps)


def check_topic_filter(topic: str, *, placeholder: bool = True) -> str:
    """Refuse what a broker would refuse: empty levels of wildcards, ``#`` not last, NUL."""
    if not topic:
        raise ValueError("empty MQTT topic")
    if "\x00" in topic:
        raise ValueError("an MQTT topic must not contain NUL")
    if len(topic.encode()) > 65535:
        raise ValueError("an MQTT topic is at most 65535 bytes")
    text = topic.replace("{topic}", "x") if placeholder else topic
    if "{" in text or "}" in text:
        raise ValueError(f"topic {topic!r}: the only placeholder is {{topic}}")
    levels = text.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise ValueError(f"topic {topic!r}: '#' must be a whole level and the last one")
        if "+" in level and level != "+":
            raise ValueError(f"topic {topic!r}: '+' must be a whole level")
    if text.startswith("$share/"):
        raise ValueError("write shared subscriptions with the connection's shared_group")
    return topic


def is_wildcard(topic: str) -> bool:
    return "+" in topic or "#" in topic


def topic_matches(filter_: str, topic: str) -> bool:
    """MQTT matching of a concrete ``topic`` against ``filter_`` (MQTT 3.1.1 §4.7)."""
    f_levels = filter_.split("/")
    t_levels = topic.split("/")
    if topic.startswith("$") and f_levels[0] in ("+", "#"):
        return False  # $SYS and friends are not matched by leading wildcards
    for i, f in enumerate(f_levels):
        if f == "#":
            return True
        if i >= len(t_levels):
            return False
        if f not in ("+", t_levels[i]):
            return False
    return len(f_levels) == len(t_levels)


def filter_covers(outer: str, inner: str) -> bool:
    """True when every topic ``inner`` matches is also matched by ``outer``."""
    o_levels = outer.split("/")
    i_levels = inner.split("/")
    for i, o in enumerate(o_levels):
        if o == "#":
            return True
        if i >= len(i_levels):
            return False
        level = i_levels[i]
        if level == "#":
            return False
        if o not in ("+", level):
            return False
    return len(o_levels) == len(i_levels)


def channel_topic(channel: ChannelSpec, device: DeviceConfig) -> str | None:
    """The channel's topic with ``{topic}`` filled in, or the device's topic if it names none."""
    if channel.topic is None:
        return device.topic
    if "{topic}" in channel.topic:
        if device.topic is None:
            return None
        return channel.topic.replace("{topic}", device.topic)
    return channel.topic


def device_problems(
    device: DeviceConfig, channels: Sequence[ChannelSpec], connection: MqttConnection
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """What is wrong with an MQTT device's channels, as ``(location in device, message)``."""
    subscriptions = connection.subscriptions
    for j, ch in enumerate(channels):
        topic = channel_topic(ch, device)
        if topic is None:
            what = "uses {topic} but the device has no topic" if ch.topic else "has no topic"
            yield ("channels", j, "topic"), f"channel {ch.name!r} {what}"
            continue
        if subscriptions and not any(filter_covers(s, topic) for s in subscriptions):
            yield (
                ("channels", j, "topic"),
                f"channel {ch.name!r}: topic {topic!r} is outside the connection's subscriptions",
            )
