"""What a running daemon keeps of its config: the limit entries packed, per location.

At 2,000 devices ``alarms.limits`` is 20,000 ``LimitConfig`` models, 11.5 MB
resident, read once by the alarm engine's ``build_tables`` and otherwise only
when a report is made (``monitor.reports.limits.channel_limits`` builds the
tables again). The service packs them with ``release_limits`` as soon as the
config is loaded, before the runtime is built: a ``PackedLimits`` holds each
location's entries as rows of their field values, pickled and compressed
against one shared dictionary (~0.1 MB in all at 2,000 devices), and gives
them back as equal ``LimitConfig`` models on every read, one location at a
time. The models of the load are thus freed before the long-lived alarm
tables and drivers are allocated: their memory is reused by those instead of
leaving free pymalloc pools among them that CPython 3.11 never returns. The
alarm engine's build makes no models at all: it reads the rows themselves
(``PackedLimits.rows``), whose bases (an entry's values but its channel) are
what an entry's rules depend on, so that it looks rules up once per base and
kind of channel instead of once per entry (``monitor.alarms.rules``).

A row is the model's ``__dict__`` values in field order and the index of its
``model_fields_set`` in a table kept once; a model is made back from it the
way pydantic's ``__setstate__`` does (no validation: the values were
validated). Pickling the models themselves went through pydantic's
``__getstate__``/``__setstate__`` and a 20-key dict each: packing and reading
back 2,000 devices' limits took 0.06 s each way, every cold start paying both
(the engine's build read every location), a restart the reading. An entry
that is not a plain ``LimitConfig`` (a subclass, extra or private values, its
fields in another order) is pickled as the model, as before.

It is a read-only ``Mapping`` with the dict's reading methods. It pickles in
its packed form, so the validated-config cache (``monitor.config.cache``)
holds it packed too and a restart from the cache never builds the 20,000
models at all.
"""

from __future__ import annotations

import io
import math
import operator
import pickle
import zlib
from collections.abc import Iterator, KeysView, Mapping
from enum import Enum
from typing import TYPE_CHECKING, Any

from .alarms import LimitConfig
from .base import share_fields_set

if TYPE_CHECKING:
    from .loader import LoadedConfig

Limits = dict[str, list[LimitConfig]]
#: raw deflate with a 4 kB window and the least state: a location packs to a few dozen
#: bytes, and zlib's default state (a 32 kB window, memLevel 8) took ~10x longer to set
#: up for each than to compress it
_WBITS = -12
_MEM_LEVEL = 1
_ZDICT_MAX = 1 << -_WBITS  # the window: a longer preset dictionary is not used
#: a row's values, in the order of the model's ``__dict__`` (its fields' order)
_FIELDS = tuple(LimitConfig.model_fields)
_N_FIELDS = len(_FIELDS)
_CHANNEL = _FIELDS.index("channel")
#: an entry's values but its channel, in the fields' order (a tuple, by one C call)
BASE_FIELDS = tuple(name for name in _FIELDS if name != "channel")
_BASE = operator.itemgetter(*BASE_FIELDS)
Base = tuple[Any, ...]
#: a plain entry, packed: (index of its base, its channel, index of its fields set)
Row = tuple[int, str, int]
_ATOMIC = frozenset({str, float, int, bool, type(None)})
_FieldSets = tuple[frozenset[str], ...]


class PackedLimits(Mapping[str, list[LimitConfig]]):
    """``alarms.limits`` (location -> limit entries), each location's rows pickled and
    zlib-compressed with a preset dictionary shared by all of them.

    Locations of one site mostly list the same kinds of entries, so the first
    location's pickle is the dictionary: a location of ten entries packs to a
    few dozen bytes.
    """

    __slots__ = ("_blobs", "_field_sets", "_sets", "_zdict")

    def __init__(self, limits: Mapping[str, list[LimitConfig]]) -> None:
        rows = _Rows()
        pickles = {loc: rows.pickle(entries) for loc, entries in limits.items()}
        zdict = next(iter(pickles.values()), b"")[-_ZDICT_MAX:]
        self._zdict = zdict
        self._blobs = {loc: _compress(data, zdict) for loc, data in pickles.items()}
        self._field_sets: _FieldSets = tuple(rows.field_sets)
        self._sets: list[set[str]] | None = None

    @classmethod
    def _restore(cls, zdict: bytes, blobs: dict[str, bytes],
                 field_sets: _FieldSets) -> PackedLimits:
        self = cls.__new__(cls)
        self._zdict = zdict
        self._blobs = blobs
        self._field_sets = field_sets
        self._sets = None
        return self

    @property
    def packed_size(self) -> int:
        return len(self._zdict) + sum(map(len, self._blobs.values()))

    def unpack(self) -> Limits:
        """A fresh dict of fresh models, equal to the mapping that was packed."""
        return {loc: self[loc] for loc in self._blobs}

    def __getitem__(self, location: str) -> list[LimitConfig]:
        """A fresh list of fresh models: only this location's entries are unpacked."""
        bases, rows = self.rows(location)
        return _models(bases, rows, self._shared_sets())

    def rows(self, location: str) -> tuple[list[Base], list[Row | LimitConfig]]:
        """A location's entries as packed, no model made: ``(bases, rows)``.

        A base is the values of an entry but its channel, in the order of
        ``BASE_FIELDS`` (every value atomic: no override, no rate of change);
        a row is ``(index of its base, channel, index of its fields set)``, or
        the entry itself where it was pickled as the model. Rows are in the
        entries' order. The alarm engine's build reads these so that what an
        entry's rules depend on is looked at once per base, not per entry
        (``monitor.alarms.rules``); ``model`` makes one back.
        """
        blob = self._blobs[location]
        inflate = zlib.decompressobj(_WBITS, zdict=self._zdict)
        bases, rows = pickle.loads(inflate.decompress(blob) + inflate.flush())
        return bases, rows

    def model(self, base: Base, channel: str, fields_set: int) -> LimitConfig:
        """The model of one row (``rows``), equal to the entry that was packed."""
        return _models([base], [(0, channel, fields_set)], self._shared_sets())[0]

    def _shared_sets(self) -> list[set[str]]:
        sets = self._sets
        if sets is None:  # the models' shared fields sets, as validation shares them
            sets = self._sets = [share_fields_set(LimitConfig, names)
                                 for names in self._field_sets]
        return sets

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

    def __reduce__(self) -> tuple[Any, tuple[bytes, dict[str, bytes], _FieldSets]]:
        return _restore_packed, (self._zdict, self._blobs, self._field_sets)

    def __repr__(self) -> str:
        return f"PackedLimits({len(self._blobs)} locations, {self.packed_size} bytes)"


class _Rows:
    """Pickles a location's entries as rows; collects the distinct fields sets met.

    A location's pickle is ``(bases, rows)``: ``bases`` the distinct tuples of
    an entry's values other than its channel (a location's ten entries
    usually have one or two), a row ``(base, channel, fields set)``. Reading
    one back copies its base's dict and sets the channel, a third of the cost
    of building the dict from the values each time.
    """

    def __init__(self) -> None:
        self.field_sets: list[frozenset[str]] = []
        self._index: dict[int, int] = {}  # id of a model's fields set -> its index
        self._kept: list[set[str]] = []  # the sets indexed by id, alive while packing
        self._by_names: dict[frozenset[str], int] = {}
        self._shareable: dict[tuple[Any, ...], bool] = {}  # a base -> all its values atomic
        self._buffer = io.BytesIO()
        self._pickler = _Pickler(self._buffer, pickle.HIGHEST_PROTOCOL)

    def pickle(self, entries: list[LimitConfig]) -> bytes:
        rows: list[Any] = []
        bases: dict[tuple[Any, ...], int] = {}
        stored: list[tuple[Any, ...]] = []  # the bases by index, as first met
        index, base_of, same = self._index, _BASE, operator.is_
        for entry in entries:
            state = entry.__dict__
            # validation (and model_construct, model_copy) keep __dict__ in the fields' order,
            # which _models gives back: only a missing or extra key is looked for
            if (type(entry) is not LimitConfig or entry.__pydantic_extra__ is not None
                    or entry.__pydantic_private__ is not None or len(state) != _N_FIELDS):
                rows.append(entry)  # pickled as the model
                continue
            base = base_of(state)
            at = bases.get(base)
            if at is not None and not (all(map(same, base, stored[at]))
                                       or _alike(base, stored[at])):
                rows.append(entry)  # equal to the base, yet a 0.0 where it has -0.0
                continue
            if at is None:
                shareable = self._shareable.get(base)
                if shareable is None:
                    shareable = self._shareable[base] = all(map(_atomic, base))
                if not shareable:  # a nested model: pickled as the model
                    rows.append(entry)
                    continue
                at = bases[base] = len(bases)
                stored.append(base)
            fields_set = entry.__pydantic_fields_set__
            set_at = index.get(id(fields_set))
            if set_at is None:
                set_at = self._add(fields_set)
            rows.append((at, state["channel"], set_at))
        buffer, pickler = self._buffer, self._pickler
        buffer.seek(0)
        buffer.truncate()
        pickler.clear_memo()
        pickler.dump((stored, rows))
        return buffer.getvalue()

    def _add(self, fields_set: set[str]) -> int:
        names = frozenset(fields_set)
        at = self._by_names.get(names)
        if at is None:
            at = self._by_names[names] = len(self.field_sets)
            self.field_sets.append(names)
        self._index[id(fields_set)] = at
        self._kept.append(fields_set)
        return at


def _alike(base: tuple[Any, ...], stored: tuple[Any, ...]) -> bool:
    """Two bases a dict holds as one (equal) that are alike too: 0.0 and -0.0 are equal."""
    for one, other in zip(base, stored, strict=True):
        if one is other:
            continue
        if type(one) is not type(other):
            return False
        if type(one) is float and one == 0.0 and math.copysign(1.0, one) != math.copysign(
                1.0, other):
            return False
    return True


def _atomic(value: Any) -> bool:
    """A value models may share: immutable, holding no model (``between``: two names)."""
    kind = type(value)
    if kind is tuple:
        return all(type(item) is str for item in value)
    return kind in _ATOMIC or isinstance(value, Enum)


class _Pickler(pickle.Pickler):
    """An enum member (a limit's priorities) is pickled as ``getattr(its class, name)``:
    read back by a C call instead of the enum's own ``Priority('medium')``."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, Enum):
            return getattr, (type(obj), obj.name)
        return NotImplemented


def _models(bases: list[tuple[Any, ...]], rows: list[Any],
            sets: list[set[str]]) -> list[LimitConfig]:
    """The models of a location's rows, made as pydantic's ``__setstate__`` makes them."""
    dicts = [dict(zip(_FIELDS, (*base[:_CHANNEL], None, *base[_CHANNEL:]), strict=True))
             for base in bases]
    out: list[LimitConfig] = []
    new, setattr_, cls = object.__new__, object.__setattr__, LimitConfig
    for row in rows:
        if type(row) is not tuple:
            out.append(row)
            continue
        at, channel, set_at = row
        values = dicts[at].copy()
        values["channel"] = channel
        model = new(cls)
        setattr_(model, "__pydantic_fields_set__", sets[set_at])
        setattr_(model, "__pydantic_extra__", None)
        setattr_(model, "__pydantic_private__", None)
        setattr_(model, "__dict__", values)
        out.append(model)
    return out


def _compress(data: bytes, zdict: bytes) -> bytes:
    deflate = zlib.compressobj(1, zlib.DEFLATED, _WBITS, _MEM_LEVEL, zdict=zdict)
    return deflate.compress(data) + deflate.flush()


def _restore_packed(zdict: bytes, blobs: dict[str, bytes],
                    field_sets: _FieldSets) -> PackedLimits:
    return PackedLimits._restore(zdict, blobs, field_sets)


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
