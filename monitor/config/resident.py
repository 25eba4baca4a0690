"""What a running daemon keeps of its config: the limit entries packed once the engine has them.

At 2,000 devices ``alarms.limits`` is 20,000 ``LimitConfig`` models, 11.5 MB
resident, read once by the alarm engine's ``build_tables`` and otherwise only
when a report is made (``monitor.reports.limits.channel_limits`` builds the
tables again). Once the runtime is built, ``release_limits`` replaces the
mapping in the running config with a ``PackedLimits``: the same entries,
pickled and compressed (~0.3 MB), given back as equal ``LimitConfig`` models
on every read. It is a read-only ``Mapping`` with the dict's reading methods;
each read unpacks the whole mapping once (~0.1 s at 20,000 entries), which
is why the hot path never reads it. It pickles as a plain dict, so the
config cache written after a start holds the limits as before.
"""

from __future__ import annotations

import pickle
import zlib
from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .alarms import LimitConfig
    from .loader import LoadedConfig

Limits = dict[str, list["LimitConfig"]]


class PackedLimits(Mapping[str, list["LimitConfig"]]):
    """``alarms.limits`` (location -> limit entries) held pickled and zlib-compressed."""

    __slots__ = ("_len", "_packed")

    def __init__(self, limits: Mapping[str, list[LimitConfig]]) -> None:
        self._packed = zlib.compress(pickle.dumps(dict(limits), pickle.HIGHEST_PROTOCOL), 1)
        self._len = len(limits)

    @property
    def packed_size(self) -> int:
        return len(self._packed)

    def unpack(self) -> Limits:
        """A fresh dict of fresh models, equal to the mapping that was packed."""
        limits: Limits = pickle.loads(zlib.decompress(self._packed))
        return limits

    def __getitem__(self, location: str) -> list[LimitConfig]:
        return self.unpack()[location]

    def __iter__(self) -> Iterator[str]:
        return iter(self.unpack())

    def __len__(self) -> int:
        return self._len

    def __contains__(self, location: object) -> bool:
        return location in self.unpack()

    # the Mapping mixins would unpack once per key: these unpack once per call
    def keys(self) -> KeysView[str]:
        return self.unpack().keys()

    def items(self) -> ItemsView[str, list[LimitConfig]]:
        return self.unpack().items()

    def values(self) -> ValuesView[list[LimitConfig]]:
        return self.unpack().values()

    def get(self, location: str, default: Any = None) -> Any:
        return self.unpack().get(location, default)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PackedLimits):
            return self.unpack() == other.unpack()
        if isinstance(other, Mapping):
            return self.unpack() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # as a dict's

    def __reduce__(self) -> tuple[type[dict[str, Any]], tuple[Limits]]:
        return dict, (self.unpack(),)

    def __repr__(self) -> str:
        return f"PackedLimits({self._len} locations, {len(self._packed)} bytes)"


def release_limits(loaded: LoadedConfig) -> PackedLimits | None:
    """Pack ``loaded``'s limit entries in place (see the module's docstring); None if empty.

    Call it once the alarm engine has built its tables from them. Packing
    twice is a no-op; the packed mapping reads back equal models.
    """
    alarms = loaded.config.alarms
    limits = alarms.limits
    if isinstance(limits, PackedLimits):
        return limits
    if not limits:
        return None
    packed = PackedLimits(limits)
    # the config is frozen: the field is replaced under it, by an equal read-only mapping
    object.__setattr__(alarms, "limits", packed)
    return packed
