"""Share what devices of one profile have in common while the drivers are built.

At 2,000 devices of one profile, building 20,000 ``ChannelDecoder``s and 2,000
read plans from scratch took ~0.35 s of the start (issue 8). Everything but
the channel id is the same for devices whose channels are the same spec
objects (the profile's, shared by every device that does not override them)
and whose registers lie at the same places. While ``shared_construction()``
is open (``monitor.runtime.build_drivers`` opens it), a decoder is a copy of
the first one built for its spec, sharing its assembler, sentinel set and
range, and a read plan is instantiated from the layout computed for the first
device with the same registers. Outside the scope both are built as before.
The devices' tuples of reads, direct plans and prebuilt requests are shared
the same way (``share``, ``share_request``): with a connection per device, as
Modbus TCP devices have, a site is thousands of small identical tuples and
request PDUs otherwise. A device whose every read has a direct plan
(``decode.direct_plan``) keeps nothing of its own but its channel ids, so the
next device with the same profile, channel specs and gap limit skips its
decoders and plan altogether: it takes the first one's compiled reads
(``DeviceShape``) and names their readings from its own channel ids (the
decoders it built and dropped were ~60 % of the driver build at 2,000
devices). The cache is dropped when the scope closes: nothing outlives a build.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import accumulate
from typing import TypeVar

from pymodbus.pdu import ModbusPDU

from monitor.config.devices import ChannelSpec

from .bus import prebuilt_request
from .decode import ChannelDecoder, DirectChannel
from .plan import ReadRequest, plan_reads
from .replies import frame_tail

#: (fc, address, count, has_gap, ((offset in the reply, index of the decoder), ...))
Layout = tuple[tuple[int, int, int, bool, tuple[tuple[int, int], ...]], ...]
T = TypeVar("T")
PlanKey = tuple[int, int, tuple[tuple[object, int, int], ...]]


class _Scope:
    depth = 0
    channel_ids: dict[str, str] = {}  # noqa: RUF012
    decoders: dict[tuple[int, bool], tuple[ChannelSpec, ChannelDecoder]] = {}  # noqa: RUF012
    plans: dict[PlanKey, Layout] = {}  # noqa: RUF012
    direct: dict[tuple[tuple[int, int], ...], tuple[DirectChannel, ...]] = {}  # noqa: RUF012
    reads: dict[tuple[object, ...], ReadRequest] = {}  # noqa: RUF012
    tuples: dict[tuple[int, ...], tuple[object, ...]] = {}  # noqa: RUF012
    requests: dict[tuple[int, int, int, int], tuple[ModbusPDU, bytes]] = {}  # noqa: RUF012
    shapes: dict[ShapeKey, DeviceShape] = {}  # noqa: RUF012


ShapeKey = tuple[int, tuple[int, ...], int]


class DeviceShape:
    """What every device of one shape (profile, channel specs, gap limit) compiles to when
    each of its reads has a direct plan: the shared reads, and where each device's
    channel ids go in them."""

    __slots__ = ("direct", "fast", "framed", "pins", "places", "requests", "spans", "suffixes")

    def __init__(  # noqa: PLR0917  (one per shape, built by DeviceRuntime)
        self, pins: tuple[object, ...], requests: tuple[ReadRequest, ...],
        direct: tuple[tuple[DirectChannel, ...] | None, ...],
        places: tuple[tuple[int, ...], ...], names: Sequence[str], fast: bool,
    ) -> None:
        self.pins = pins  # the profile and specs keyed by id: no id is reused meanwhile
        self.requests = requests
        self.direct = direct
        #: per read, the positions in the device's polled channels of its readings'
        #: channels (in its plan's order)
        self.places = places
        self.suffixes = tuple(f"/{name}" for name in names)  # channel id = device + suffix
        self.fast = fast  # ``DeviceRuntime.scheduled_fast``
        #: each read's slice of the channel ids when the reads take the channels in order
        #: (the usual plan): no look-up per channel
        self.spans: tuple[tuple[int, int], ...] | None = None
        if [j for p in places for j in p] == list(range(len(names))):
            ends = list(accumulate(len(p) for p in places))
            self.spans = tuple(zip([0, *ends[:-1]], ends, strict=True))
        #: unit id -> the request PDUs and frame tails (``requests_for``)
        self.framed: dict[int, tuple[tuple[ModbusPDU, ...], tuple[bytes, ...]]] = {}

    def ids(self, device: str) -> tuple[tuple[str, ...], ...]:
        """``device``'s channel ids, per read: the config's own strings in a scope (as
        ``make_decoder`` names its decoders)."""
        known = _Scope.channel_ids
        cids = [device + suffix for suffix in self.suffixes]
        if known:
            cids = list(map(known.get, cids, cids))
        spans = self.spans
        if spans is None:
            return tuple(tuple(cids[j] for j in places) for places in self.places)
        if len(spans) == 1:
            return (tuple(cids),)
        every = tuple(cids)
        return tuple(every[start:stop] for start, stop in spans)

    def requests_for(self, unit: int) -> tuple[tuple[ModbusPDU, ...], tuple[bytes, ...]]:
        """The shape's request PDUs and frame tails for ``unit``, the same tuples for
        every device of the shape with that unit id (``share_request``, ``share``)."""
        found = self.framed.get(unit)
        if found is None:
            pdus = [share_request(r.function_code, r.address, r.count, unit)
                    for r in self.requests]
            found = share(tuple(p for p, _ in pdus)), share(tuple(t for _, t in pdus))
            self.framed[unit] = found
        return found


def _copier(slots: Sequence[str]) -> Callable[[ChannelDecoder, ChannelDecoder], None]:
    """``copy(template, new)`` assigning each slot in turn: generated once from the slots
    so that it follows ``ChannelDecoder`` and costs one attribute load and store per slot
    (a getattr/setattr loop took 7 us per decoder)."""
    body = "".join(f"    new.{name} = template.{name}\n" for name in slots) or "    pass\n"
    namespace: dict[str, Callable[[ChannelDecoder, ChannelDecoder], None]] = {}
    exec(f"def copy(template, new):\n{body}", namespace)  # names from __slots__, no input
    return namespace["copy"]


_copy = _copier([s for s in ChannelDecoder.__slots__ if s not in ("channel", "hidden")])


@contextmanager
def shared_construction(channel_ids: Iterable[str] | None = None) -> Iterator[None]:
    """Share decoders' compiled parts and read-plan layouts until the block ends.

    ``channel_ids`` (e.g. the loaded config's ``channels``) lets each
    decoder keep the config's own id string instead of a copy of it.
    """
    if channel_ids is not None and not _Scope.depth:
        _Scope.channel_ids = {cid: cid for cid in channel_ids}
    _Scope.depth += 1
    try:
        yield
    finally:
        _Scope.depth -= 1
        if _Scope.depth == 0:
            _Scope.decoders.clear()
            _Scope.plans.clear()
            _Scope.direct.clear()
            _Scope.reads.clear()
            _Scope.tuples.clear()
            _Scope.requests.clear()
            _Scope.shapes.clear()
            _Scope.channel_ids = {}


def make_decoder(device: str, spec: ChannelSpec, *, hidden: bool = False) -> ChannelDecoder:
    """``ChannelDecoder(device, spec, hidden=hidden)``, copied from a template in a scope."""
    if not _Scope.depth:
        return ChannelDecoder(device, spec, hidden=hidden)
    key = (id(spec), hidden)
    entry = _Scope.decoders.get(key)
    if entry is None:  # the template pins its spec, so the id is not reused meanwhile
        entry = spec, ChannelDecoder(device, spec, hidden=hidden)
        _Scope.decoders[key] = entry
        entry[1].channel = _Scope.channel_ids.get(entry[1].channel, entry[1].channel)
        return entry[1]
    dec = ChannelDecoder.__new__(ChannelDecoder)
    _copy(entry[1], dec)
    dec.hidden = hidden
    channel = f"{device}/{spec.name}"
    dec.channel = _Scope.channel_ids.get(channel, channel)
    return dec


def make_plan(
    decoders: Sequence[ChannelDecoder], *, max_gap: int, max_registers: int
) -> list[ReadRequest]:
    """``plan_reads(decoders, ...)``, instantiated from a shared layout in a scope."""
    if not _Scope.depth:
        return plan_reads(decoders, max_gap=max_gap, max_registers=max_registers)
    key: PlanKey = (max_gap, max_registers,
                    tuple((d.table, d.address, d.width) for d in decoders))
    layout = _Scope.plans.get(key)
    if layout is None:
        requests = plan_reads(decoders, max_gap=max_gap, max_registers=max_registers)
        index = {id(d): i for i, d in enumerate(decoders)}
        _Scope.plans[key] = tuple(
            (r.function_code, r.address, r.count, r.has_gap,
             tuple((offset, index[id(d)]) for offset, d in r.channels))
            for r in requests
        )
        return requests
    return [
        ReadRequest(fc, address, count, [(offset, decoders[i]) for offset, i in parts], gap)
        for fc, address, count, gap, parts in layout
    ]


def share_direct(plan: tuple[DirectChannel, ...] | None) -> tuple[DirectChannel, ...] | None:
    """``plan``, or an equal one made earlier in the scope: a direct plan is the same for
    every device whose channels are the same specs at the same places in a read (its
    decoder is only asked for a reading's quality and detail, under another id)."""
    if plan is None or not _Scope.depth:
        return plan
    key = tuple((index, id(dec.spec)) for dec, index, *_ in plan)  # specs pinned by the plan
    return _Scope.direct.setdefault(key, plan)


def share_read(request: ReadRequest, direct: tuple[DirectChannel, ...] | None) -> ReadRequest:
    """``request``, or an equal read with a direct plan made earlier in the scope (same
    function, registers, and channel specs at the same offsets). Its decoders are then
    another device's, so the device names the read's readings from its own channel ids
    (``DeviceRuntime.ids``), and its own decoders for the read are not kept: 20,000
    decoders and their reads' lists (~5 MB) at 2,000 devices of one profile."""
    if direct is None or not _Scope.depth:
        return request
    key = (request.function_code, request.address, request.count, request.has_gap,
           *((offset, id(dec.spec)) for offset, dec in request.channels))
    return _Scope.reads.setdefault(key, request)  # the kept read pins its specs


def share(items: tuple[T, ...]) -> tuple[T, ...]:
    """``items``, or a tuple of the very same objects made earlier in the scope."""
    if not _Scope.depth:
        return items
    key = tuple(map(id, items))  # the kept tuple pins its items, so no id is reused
    return _Scope.tuples.setdefault(key, items)  # type: ignore[return-value]


def share_request(function_code: int, address: int, count: int,
                  unit: int) -> tuple[ModbusPDU, bytes]:
    """A planned read's request PDU and Modbus TCP frame tail (``replies.frame_tail``),
    the same for every device of the scope with this unit id that makes this read.

    A shared PDU is safe to send from several buses: a send sets its transaction id
    and frames it at once, and nothing reads the id from the PDU afterwards.
    """
    key = (function_code, address, count, unit)
    found = _Scope.requests.get(key) if _Scope.depth else None
    if found is None:
        pdu = prebuilt_request(function_code, address, count, unit)
        found = (pdu, frame_tail(pdu))
        if _Scope.depth:
            _Scope.requests[key] = found
    return found


def find_shape(
    profile: object, channels: Sequence[ChannelSpec], max_gap: int,
) -> tuple[ShapeKey | None, DeviceShape | None]:
    """A device's shape key (``None`` outside a scope: nothing is shared) and the shape
    built for it earlier in the scope, if any."""
    if not _Scope.depth:
        return None, None
    key = id(profile), tuple(map(id, channels)), max_gap
    return key, _Scope.shapes.get(key)


def remember_shape(key: ShapeKey | None, shape: DeviceShape) -> None:
    if key is not None:
        _Scope.shapes.setdefault(key, shape)
