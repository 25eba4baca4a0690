"""Load, validate and index a site configuration.

Everything is checked here, once: YAML syntax, types, unknown keys, duplicate
names, references between sections, limit ordering. All problems are reported
together as ``FILE:LINE: path.to.field: message`` so that an engineer fixes a
config in one pass. The result is frozen; the hot path never re-validates.
"""

from __future__ import annotations

import functools
import gc
import glob
import hashlib
import operator
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from monitor.errors import ConfigError

from .alarms import check_alarm_references
from .devices import ChannelSpec, DeviceConfig, MqttConnection, ProfileConfig
from .json_source import read_json
from .mqtt import device_problems as mqtt_device_problems
from .root import Config
from .site import LocationConfig, RoomConfig, Standard
from .sourcemap import Loc, SourceMap, YamlSyntaxError


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the channels of one device share: held once per device, not per channel."""

    device: str
    location: str
    room: str
    grade: str
    standard: Standard
    site: str
    poll_interval: float

    def __reduce__(self) -> tuple[type[DeviceInfo], tuple[Any, ...]]:
        # through __init__: half the time of the dataclass default (see ChannelInfo's)
        return DeviceInfo, (self.device, self.location, self.room, self.grade, self.standard,
                            self.site, self.poll_interval)


def _shared(name: str) -> Any:
    """A read-only attribute of the channel's ``DeviceInfo`` (a C getter: no Python frame)."""
    return property(operator.attrgetter(f"device_info.{name}"),
                    doc=f"The device's {name} (``DeviceInfo.{name}``).")


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """What the stores and the alarm engine need to know about one channel.

    One per channel, 20,000 at 2,000 devices: the device's name, location,
    room, grade, standard, site and poll interval are read through the one
    ``DeviceInfo`` of its device (56 bytes a channel instead of 104, and a
    third of the time to build or unpickle).
    """

    id: str  # "device/channel"
    spec: ChannelSpec
    device_info: DeviceInfo

    if TYPE_CHECKING:
        @property
        def device(self) -> str: ...
        @property
        def location(self) -> str: ...
        @property
        def room(self) -> str: ...
        @property
        def grade(self) -> str: ...
        @property
        def standard(self) -> Standard: ...
        @property
        def site(self) -> str: ...
        @property
        def poll_interval(self) -> float: ...
    else:
        device = _shared("device")
        location = _shared("location")
        room = _shared("room")
        grade = _shared("grade")
        standard = _shared("standard")
        site = _shared("site")
        poll_interval = _shared("poll_interval")

    def __reduce__(self) -> tuple[type[ChannelInfo], tuple[Any, ...]]:
        # the config cache unpickles 20,000 of these: through __init__ they take half the
        # time of the dataclass default (__setstate__ looping over fields())
        return ChannelInfo, (self.id, self.spec, self.device_info)


@dataclass(frozen=True, init=False)
class LoadedConfig:
    """A validated config with the indexes derived from it.

    The main file's text is kept for the audit trail's diff and the config
    cache, which read it once or twice per load. It is held as loaded until
    ``compact`` (the service calls it once the start is done, after the
    audit trail has read it): then zlib-compressed (2.5 MB of text is 0.1 MB
    at 2,000 devices, ~4 ms either way) rather than as a string resident for
    the daemon's whole run. Compressing it as it was loaded, and the audit
    trail reading it back, cost ~8 ms before the first poll.
    """

    config: Config
    path: Path
    sha256: str
    channels: dict[str, ChannelInfo] = field(default_factory=dict)
    locations: dict[str, tuple[RoomConfig, LocationConfig]] = field(default_factory=dict)
    from_cache: bool = False  # read from ``monitor.config.cache`` rather than validated now
    #: the main file's text until ``compact``, then None and ``_text_z`` its compressed form
    _text: str | None = field(default=None, init=False, repr=False, compare=False)
    _text_z: bytes = field(default=b"", init=False, repr=False, compare=False)

    def __init__(  # noqa: PLR0917 - the dataclass's positional order, kept for its callers
        self,
        config: Config,
        path: Path,
        sha256: str,
        text: str,
        channels: dict[str, ChannelInfo] | None = None,
        locations: dict[str, tuple[RoomConfig, LocationConfig]] | None = None,
        *,
        from_cache: bool = False,
    ) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "config", config)
        setattr_(self, "path", path)
        setattr_(self, "sha256", sha256)
        setattr_(self, "_text", text)  # until compact(): then None, and _text_z set
        setattr_(self, "_text_z", b"")
        setattr_(self, "channels", {} if channels is None else channels)
        setattr_(self, "locations", {} if locations is None else locations)
        setattr_(self, "from_cache", from_cache)

    @property
    def text(self) -> str:
        """The main file's text as loaded (for the audit trail's diff and the cache)."""
        text: str | None = self._text
        if text is not None:
            return text
        return zlib.decompress(self._text_z).decode("utf-8")

    @property
    def text_z(self) -> bytes:
        """The main file's text, zlib-compressed (compacted now if it was not yet)."""
        self.compact()
        return self._text_z

    def compact(self) -> None:
        """Hold the text compressed from now on (see the class's docstring).

        Another thread may read ``text`` meanwhile: the compressed form is in
        place before the string is let go.
        """
        text: str | None = self._text
        if text is not None:
            object.__setattr__(self, "_text_z", zlib.compress(text.encode("utf-8"), 1))
            object.__setattr__(self, "_text", None)

    def device_channels(self, device: DeviceConfig) -> list[ChannelSpec]:
        return resolve_channels(device, self.config.profiles[device.profile])


def resolve_channels(device: DeviceConfig, profile: ProfileConfig) -> list[ChannelSpec]:
    """The profile's channels with the device's overrides applied (same name replaces)."""
    if not device.channels:
        return list(profile.channels)
    overrides = {c.name: c for c in device.channels}
    merged = [overrides.pop(c.name, c) for c in profile.channels]
    return merged + list(overrides.values())


def format_loc(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic GC off while a start builds objects that all stay alive.

    Loading 2,000 devices' config makes ~300,000 objects and no cyclic
    garbage, yet the allocations set off collections that walk every object
    made so far, again and again: 0.3 s of a 1.2 s ``load_config``. The
    previous state is restored on the way out.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_config(path: str | Path) -> LoadedConfig:
    """Parse and validate ``path``; raise ``ConfigError`` listing every problem."""
    with paused_gc():
        return _load(Path(path))


def _load(path: Path) -> LoadedConfig:
    source = SourceMap()
    try:
        text = path.read_text(encoding="utf-8")
        is_json, raw = read_json(path, source, text)
        if not is_json:
            # imported here: a start from the cache or a JSON file never needs ruamel.yaml
            from .yaml_source import load_yaml

            raw = load_yaml(path, source, text=text)
    except OSError as err:
        raise ConfigError([f"{path}:1: cannot read config: {err.strerror}"]) from err
    except UnicodeDecodeError as err:
        raise ConfigError([_not_utf8(path, err)]) from err
    except YamlSyntaxError as err:
        raise ConfigError([str(err)]) from err
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{path}:1: the config must be a mapping of sections"])

    problems: list[str] = []
    digest = hashlib.sha256(text.encode())
    _merge_includes(path, raw, source, problems, digest)

    try:
        config = Config.model_validate(raw)
    except ValidationError as err:
        for error in err.errors():
            loc = tuple(p for p in error["loc"] if not _is_union_tag(p))
            file, line = source.locate(loc, str(path))
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{file}:{line}: {format_loc(loc)}: {message}")
        raise ConfigError(problems) from err

    resolved = _resolve_all(config)
    for loc, message in _check_references(config, resolved):
        file, line = source.locate(loc, str(path))
        problems.append(f"{file}:{line}: {format_loc(loc)}: {message}")
    if problems:
        raise ConfigError(problems)
    return _index(config, resolved, path, digest.hexdigest(), text)


def _not_utf8(path: Path, err: UnicodeDecodeError) -> str:
    line = bytes(err.object[: err.start]).count(b"\n") + 1
    return f"{path}:{line}: not UTF-8 text ({err.reason} at byte {err.start})"


def _is_union_tag(part: str | int) -> bool:
    return isinstance(part, str) and (
        part in {"modbus_tcp", "modbus_rtu_over_tcp", "modbus_rtu", "modbus_ascii", "mqtt"}
        or part in {"webhook", "email"}  # notifier kinds (mqtt is above)
        or part in {"influxdb_v1", "influxdb_v2"}
        or part.startswith("function-")
    )


def _merge_includes(
    path: Path, raw: dict[str, Any], source: SourceMap, problems: list[str], digest: Any
) -> None:
    """Profiles from ``include:`` files are merged into ``profiles`` (the main file wins)."""
    includes = raw.get("include") or []
    if not isinstance(includes, list):
        return  # pydantic reports the type error
    profiles = raw.setdefault("profiles", {})
    if not isinstance(profiles, dict):
        return
    for index, pattern in enumerate(includes):
        matches = sorted(glob.glob(str(path.parent / str(pattern))))
        if not matches:
            file, line = source.locate(("include", index), str(path))
            problems.append(f"{file}:{line}: include[{index}]: no file matches {pattern!r}")
            continue
        from .yaml_source import load_yaml  # ruamel.yaml: only for a config with includes

        for match in matches:
            inc_source = SourceMap()
            try:
                doc = load_yaml(Path(match), inc_source)
                digest.update(Path(match).read_bytes())
            except YamlSyntaxError as err:
                problems.append(str(err))
                continue
            except UnicodeDecodeError as err:
                problems.append(_not_utf8(Path(match), err))
                continue
            inc_profiles = doc.get("profiles") if isinstance(doc, dict) else None
            if not isinstance(inc_profiles, dict):
                problems.append(f"{match}:1: profiles: an included file holds a 'profiles' map")
                continue
            taken = set()
            for name, body in inc_profiles.items():
                if name in profiles:
                    continue
                profiles[name] = body
                taken.add(name)
            if taken:
                source.defer(functools.partial(_include_lines, inc_source, taken))


def _include_lines(
    inc_source: SourceMap, names: set[str], lines: dict[Loc, tuple[str, int]]
) -> None:
    """The lines of the profiles taken from an include (deferred: read when an error needs one)."""
    for loc, where in inc_source.lines.items():
        if len(loc) > 1 and loc[0] == "profiles" and loc[1] in names:
            lines[loc] = where


def _duplicates(names: Iterable[tuple[Loc, str]], what: str) -> Iterator[tuple[Loc, str]]:
    seen: dict[str, Loc] = {}
    for loc, name in names:
        if name in seen:
            yield loc, f"duplicate {what} name {name!r}"
        else:
            seen[name] = loc


def _check_references(config: Config, resolved: Resolved) -> Iterator[tuple[Loc, str]]:
    yield from _duplicates(
        ((("connections", i, "name"), c.name) for i, c in enumerate(config.connections)),
        "connection",
    )
    yield from _duplicates(
        ((("devices", i, "name"), d.name) for i, d in enumerate(config.devices)), "device"
    )
    yield from _duplicates(
        ((("rooms", i, "name"), r.name) for i, r in enumerate(config.rooms)), "room"
    )
    yield from _duplicates(
        (
            (("rooms", r, "locations", j, "name"), loc.name)
            for r, room in enumerate(config.rooms)
            for j, loc in enumerate(room.locations)
        ),
        "location",
    )
    connections = {c.name: c for c in config.connections}
    locations = {loc.name for room in config.rooms for loc in room.locations}
    channel_ids: set[str] = set()
    unresolved: set[str] = set()  # devices whose channels are unknown: no follow-on errors
    #: (profile, driver) -> the address problems of a device that overrides no channel
    address_problems: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for i, (device, channels) in enumerate(zip(config.devices, resolved, strict=True)):
        conn = connections.get(device.connection)
        if conn is None:
            yield ("devices", i, "connection"), f"unknown connection {device.connection!r}"
        if device.location not in locations:
            yield ("devices", i, "location"), f"unknown location {device.location!r}"
        if channels is None:
            yield ("devices", i, "profile"), f"unknown profile {device.profile!r}"
            unresolved.add(device.name)
            continue
        specs, ids = channels
        channel_ids.update(ids)
        if isinstance(conn, MqttConnection):
            for loc, message in mqtt_device_problems(device, specs, conn):
                yield ("devices", i, *loc), message
        elif conn is not None:
            key = (device.profile, conn.driver)
            problems = None if device.channels else address_problems.get(key)
            if problems is None:
                problems = _address_problems(specs, conn.driver)
                if not device.channels:
                    address_problems[key] = problems
            for j, message in problems:
                yield ("devices", i, "channels", j, "address"), message
    for location, limits in config.alarms.limits.items():
        if location not in locations:
            yield ("alarms", "limits", location), f"unknown location {location!r}"
        for j, limit in enumerate(limits):
            if limit.channel not in channel_ids and limit.channel.split("/")[0] not in unresolved:
                yield (
                    ("alarms", "limits", location, j, "channel"),
                    f"unknown channel {limit.channel!r} (write it as device/channel)",
                )
    specs_by_id: dict[str, tuple[str, ChannelSpec]] = {}
    for device, channels in zip(config.devices, resolved, strict=True):
        if channels is not None:
            specs, ids = channels
            specs_by_id.update(zip(ids, zip(repeat(device.location), specs), strict=True))
    yield from check_alarm_references(config, specs_by_id)


def _address_problems(specs: list[ChannelSpec], driver: str) -> list[tuple[int, str]]:
    """(index, message) of the channels a Modbus device cannot read."""
    problems = []
    for j, ch in enumerate(specs):
        if ch.address is None:
            problems.append((j, f"channel {ch.name!r} needs a register address for {driver}"))
        elif ch.address + ch.register_count > 65536:
            problems.append((j, f"channel {ch.name!r} runs past register 65535"))
    return problems


Resolved = list[tuple[list[ChannelSpec], list[str]] | None]


def _resolve_all(config: Config) -> Resolved:
    """Per device (in order): its channels and their ids, or None when its profile is unknown.

    Resolved once for the reference checks and the index, which each did it before.
    """
    out: Resolved = []
    profiles = config.profiles
    for device in config.devices:
        profile = profiles.get(device.profile)
        if profile is None:
            out.append(None)
            continue
        specs = resolve_channels(device, profile)
        prefix = device.name + "/"
        out.append((specs, [prefix + spec.name for spec in specs]))
    return out


def _index(config: Config, resolved: Resolved, path: Path, sha256: str, text: str) -> LoadedConfig:
    locations: dict[str, tuple[RoomConfig, LocationConfig]] = {}
    for room in config.rooms:
        for loc in room.locations:
            locations[loc.name] = (room, loc)
    # A channel's id is the string _resolve_all made; a limit holds a copy of its own while
    # the limits are models, freed when the service packs them (monitor.config.resident).
    all_ids: list[str] = []
    all_specs: list[ChannelSpec] = []
    all_shared: list[DeviceInfo] = []
    site, standard = config.site.id, config.standard
    for device, resolution in zip(config.devices, resolved, strict=True):
        if resolution is None:  # not reached: an unknown profile is a config error
            raise ConfigError([f"{path}:1: devices: unknown profile {device.profile!r}"])
        room, _ = locations[device.location]
        shared = DeviceInfo(device.name, device.location, room.name, room.grade,
                            room.standard or standard, site, device.poll_interval)
        specs, ids = resolution
        all_ids += ids
        all_specs += specs
        all_shared += repeat(shared, len(ids))
    infos = _channel_infos(all_ids, all_specs, all_shared)
    channels = dict(zip(all_ids, infos, strict=True))
    return LoadedConfig(config, path, sha256, text, channels, locations)


def _slot_setter(name: str) -> Callable[[ChannelInfo, Any], None]:
    """The ``__set__`` of a ``ChannelInfo`` slot's descriptor (frozen only to ``setattr``)."""
    setter: Callable[[ChannelInfo, Any], None] = getattr(ChannelInfo, name).__set__
    return setter


_new = object.__new__
_set_id, _set_spec, _set_device_info = map(_slot_setter, ("id", "spec", "device_info"))


def _channel_infos(
    ids: list[str], specs: list[ChannelSpec], shared: list[DeviceInfo]
) -> list[ChannelInfo]:
    """``ChannelInfo(id, spec, device_info)`` for each channel, made column by column.

    The frozen dataclass's ``__init__`` is a Python call of three ``object.__setattr__``
    each; 20,000 of them took ~8 ms of a cold start. Made with ``object.__new__`` and
    each slot filled through its descriptor over the whole column (``map`` in C, drained
    by a zero-length deque) they take ~3 ms: the same objects (no ``__post_init__``).
    """
    infos: list[ChannelInfo] = list(map(_new, repeat(ChannelInfo, len(ids))))
    deque(map(_set_id, infos, ids), maxlen=0)
    deque(map(_set_spec, infos, specs), maxlen=0)
    deque(map(_set_device_info, infos, shared), maxlen=0)
    return infos
