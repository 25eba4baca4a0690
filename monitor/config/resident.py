"""What a running daemon keeps of its config: the limit entries packed, per location.

At 2,000 devices ``alarms.limits`` is 20,000 ``LimitConfig`` models, 11.5 MB
resident, read once by the alarm engine's ``build_tables`` and otherwise only
when a report is made (``monitor.reports.limits.channel_limits`` builds the
tables again). The service packs them with ``release_limits`` as soon as the
config is loaded, before the runtime is built: a ``PackedLimits`` holds each
location's entries pickled and compressed against one shared dictionary
(~0.15 MB in all, ~0.06 s to pack at 2,000 devices) and gives them back as
equal ``LimitConfig`` models on every read, one location at a time. So the
alarm engine's build never holds more than one location's models at once, and
the models of the load are freed before the long-lived alarm tables and
drivers are allocated: their memory is reused by those instead of leaving
free pymalloc pools among them that CPython 3.11 never returns.

It is a read-only ``Mapping`` with the dict's reading methods. It pickles in
its packed form, so the validated-config cache (``monitor.config.cache``)
holds it packed too and a restart from the cache never builds the 20,000
models at all.
"""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Iterator, KeysView, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .alarms import LimitConfig
    from .loader import LoadedConfig

Limits = dict[str, list["LimitConfig"]]
_ZDICT_MAX = 32768  # zlib's window: a longer preset dictionary is not used


class PackedLimits(Mapping[str, list["LimitConfig"]]):
    """``alarms.limits`` (location -> limit entries), each location's list pickled and
    zlib-compressed with a preset dictionary shared by all of them.

    Locations of one site mostly list the same kinds of entries, so the first
    location's pickle is the dictionary: a location of ten entries packs to
    ~70 bytes instead of ~1.8 kB (or ~480 bytes compressed on its own).
    """

    __slots__ = ("_blobs", "_zdict")

    def __init__(self, limits: Mapping[str, list[LimitConfig]]) -> None:
        pickles = {loc: pickle.dumps(list(entries), pickle.HIGHEST_PROTOCOL)
                   for loc, entries in limits.items()}
        zdict = next(iter(pickles.values()), b"")[-_ZDICT_MAX:]
        self._zdict = zdict
        self._blobs = {loc: _compress(data, zdict) for loc, data in pickles.items()}

    @classmethod
    def _restore(cls, zdict: bytes, blobs: dict[str, bytes]) -> PackedLimits:
        self = cls.__new__(cls)
        self._zdict = zdict
        self._blobs = blobs
        return self

    @property
    def packed_size(self) -> int:
        return len(self._zdict) + sum(map(len, self._blobs.values()))

    def unpack(self) -> Limits:
        """A fresh dict of fresh models, equal to the mapping that was packed."""
        return {loc: self[loc] for loc in self._blobs}

    def __getitem__(self, location: str) -> list[LimitConfig]:
        """A fresh list of fresh models: only this location's entries are unpacked."""
        blob = self._blobs[location]
        inflate = zlib.decompressobj(zdict=self._zdict) if self._zdict else zlib.decompressobj()
        entries: list[LimitConfig] = pickle.loads(inflate.decompress(blob) + inflate.flush())
        return entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._blobs)

    def __len__(self) -> int:
        return len(self._blobs)

    def __contains__(self, location: object) -> bool:
        return location in self._blobs

    def keys(self) -> KeysView[str]:
        return self._blobs.keys()

    # items() and values() are the Mapping mixins: they unpack one location per step

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PackedLimits):
            return self.unpack() == other.unpack()
        if isinstance(other, Mapping):
            return self.unpack() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # as a dict's

    def __reduce__(self) -> tuple[Any, tuple[bytes, dict[str, bytes]]]:
        return _restore_packed, (self._zdict, self._blobs)

    def __repr__(self) -> str:
        return f"PackedLimits({len(self._blobs)} locations, {self.packed_size} bytes)"


def _compress(data: bytes, zdict: bytes) -> bytes:
    deflate = zlib.compressobj(1, zdict=zdict) if zdict else zlib.compressobj(1)
    return deflate.compress(data) + deflate.flush()


def _restore_packed(zdict: bytes, blobs: dict[str, bytes]) -> PackedLimits:
    return PackedLimits._restore(zdict, blobs)


def release_limits(loaded: LoadedConfig) -> PackedLimits | None:
    """Pack ``loaded``'s limit entries in place (see the module's docstring); None if empty.

    Packing twice is a no-op; the packed mapping reads back equal models.
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
