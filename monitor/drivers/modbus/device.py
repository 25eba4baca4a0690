"""One device on a bus: its read plan, decoders, status word and counters.

Everything here is built once when the driver is built; ``poll`` only sends
the planned reads (reusing their request PDUs), decodes and qualifies.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymodbus.pdu import ModbusPDU

from monitor.config.devices import (
    ByteOrder,
    ChannelSpec,
    DataType,
    ModbusSerialConnection,
    ModbusTcpConnection,
    RegisterTable,
    StatusBit,
)
from monitor.drivers.base import DeviceBinding, DeviceStatus
from monitor.model import Quality, Reading, utc_now_ns

from .build_cache import (
    DeviceShape,
    ShapeKey,
    find_shape,
    make_decoder,
    make_plan,
    remember_shape,
    share,
    share_direct,
    share_read,
    share_request,
)
from .bus import Bus, BusError, prebuilt_request, registers_of
from .decode import ChannelDecoder, DirectChannel, decode_direct, direct_plan
from .plan import ReadRequest, split
from .records import CounterReader, active_conditions, flow_lpm, is_record_channel
from .replies import InFlight, frame_tail
from .schedule import DeviceSchedule, ticks

_GIVE_UP = ("timeout", "connect", "disconnected")  # the device is not there: stop this poll

_STATUS, _COUNT, _FLOW, _HOLD = "status~", "record_count~", "flow~", "hold_time~"
_GOOD, _COMM_ERROR, _OUT_OF_RANGE = Quality.GOOD, Quality.COMM_ERROR, Quality.OUT_OF_RANGE
#: the hidden registers of every device that reads none: always empty (only a hidden
#: channel's decoder writes to the map), so one serves them all (an empty dict is 64 B)
_NO_HIDDEN: dict[str, int] = {}


def _hidden(name: str, table: RegisterTable, address: int, dtype: DataType,
            order: ByteOrder = ByteOrder.ABCD) -> ChannelSpec:
    """A register the driver needs but does not emit (status word, record count...)."""
    return ChannelSpec.model_construct(
        name=name, quantity="internal", unit="", table=table, address=address, type=dtype,
        byte_order=order, scale=1.0, offset=0.0, bit=None, nan_values=[], range=None,
    )


def _ids(request: ReadRequest, direct: tuple[DirectChannel, ...] | None) -> tuple[str, ...]:
    """The channel ids a direct plan's readings take (none without one)."""
    return tuple(dec.channel for _, dec in request.channels) if direct is not None else ()


class DeviceRuntime:
    """A device's compiled plan and live state."""

    __slots__ = (
        "binding", "bus", "counter", "direct", "error", "failed", "hidden", "ids",
        "interval_ticks", "name", "pdus", "requests", "retries", "schedule", "scheduled_fast",
        "status",
        "status_bits", "tails", "timeout", "unit",
    )
    pdus: tuple[ModbusPDU, ...]
    tails: tuple[bytes, ...]
    direct: tuple[tuple[DirectChannel, ...] | None, ...]
    #: the channel ids of each direct read's readings, in its plan's order (a read
    #: with a direct plan may be another device's: ``build_cache.share_read``)
    ids: tuple[tuple[str, ...], ...]
    requests: tuple[ReadRequest, ...]

    def __init__(
        self, binding: DeviceBinding, connection: ModbusTcpConnection | ModbusSerialConnection,
        bus: Bus, status: DeviceStatus,
    ) -> None:
        cfg, profile = binding.config, binding.profile
        self.binding = binding
        self.name = cfg.name
        self.unit = cfg.unit_id
        self.bus = bus
        self.status = status
        self.timeout = cfg.timeout if cfg.timeout is not None else connection.timeout
        self.retries = cfg.retries if cfg.retries is not None else connection.retries
        self.interval_ticks = ticks(cfg.poll_interval)
        self.schedule = DeviceSchedule(self.interval_ticks, 0, 0)
        self.failed = False
        self.error: BusError | None = None
        self.hidden: dict[str, int] = _NO_HIDDEN  # its own dict once it has hidden channels

        self.status_bits: Sequence[StatusBit] = profile.status.bits if profile.status else ()
        self.counter: CounterReader | None = None
        pc = profile.particle_counter
        max_gap = cfg.max_gap if cfg.max_gap is not None else profile.max_gap
        # a particle counter keeps a record reader of its own: never one of a shape
        key, shape = find_shape(profile, binding.channels, max_gap) if pc is None else (None, None)
        if shape is not None:  # another device compiled the same reads: take them
            self.requests, self.direct = shape.requests, shape.direct
            self.pdus, self.tails = shape.requests_for(self.unit)
            self.ids = shape.ids(self.name)
            self.scheduled_fast = shape.fast
            return
        self._compile(binding, connection, max_gap, key)

    def _compile(
        self, binding: DeviceBinding, connection: ModbusTcpConnection | ModbusSerialConnection,
        max_gap: int, key: ShapeKey | None,
    ) -> None:
        """Build the device's decoders and read plan (``__init__`` when no other device of
        its shape was built before it), and offer the result as its shape's."""
        profile = binding.profile
        pc = profile.particle_counter
        polled = [c for c in binding.channels if pc is None or not is_record_channel(c)]
        decoders = [make_decoder(self.name, c) for c in polled]  # shared parts: build_cache
        hidden: list[ChannelSpec] = []
        if profile.status is not None:
            st = profile.status
            hidden.append(_hidden(_STATUS, st.table, st.address, DataType(st.type),
                                  st.byte_order))
        if pc is not None:
            hidden.append(_hidden(_COUNT, RegisterTable.HOLDING, pc.record_count_address,
                                  DataType.U16))
            if pc.flow_address is not None:
                hidden.append(_hidden(_FLOW, RegisterTable.HOLDING, pc.flow_address,
                                      DataType.U16))
            if pc.hold_time_address is not None:
                hidden.append(_hidden(_HOLD, RegisterTable.HOLDING, pc.hold_time_address,
                                      DataType.U32))
            self.counter = CounterReader(self.name, pc, binding.channels, self.status)
        hidden_decs = [ChannelDecoder(self.name, h, hidden=True) for h in hidden]
        if hidden_decs:
            self.hidden = {}
        requests = make_plan(decoders + hidden_decs, max_gap=max_gap,
                             max_registers=profile.max_registers)
        # tuples, the same ones for every device of a profile where they can be
        # (``build_cache.share``): five lists a device were ~0.9 MB at 2,000 devices
        direct = [share_direct(direct_plan(r.channels)) for r in requests]
        pdus = [share_request(r.function_code, r.address, r.count, self.unit)
                for r in requests]
        self.pdus = share(tuple(p for p, _ in pdus))
        self.tails = share(tuple(t for _, t in pdus))
        self.direct = share(tuple(direct))
        self.ids = tuple(
            _ids(r, d) for r, d in zip(requests, direct, strict=True))
        self.requests = share(tuple(
            share_read(r, d) for r, d in zip(requests, direct, strict=True)))
        #: polled by ``PollCycle`` without a coroutine while its bus is up: register reads
        #: only (no record buffer to page through, which needs writes between reads)
        self.scheduled_fast = self.counter is None and all(
            r.function_code in (3, 4) for r in self.requests)
        if key is not None and not hidden_decs and None not in direct:
            # nothing of the device's own but its channel ids: the next one of its shape
            # takes these reads (``build_cache.DeviceShape``)
            place = {id(dec): j for j, dec in enumerate(decoders)}
            remember_shape(key, DeviceShape(
                (profile, binding.channels), self.requests, self.direct,
                tuple(tuple(place[id(dec)] for _, dec in r.channels) for r in requests),
                tuple(c.name for c in polled), self.scheduled_fast,
            ))

    def start(self, first: int, backoff_max_ticks: int) -> None:
        self.schedule = DeviceSchedule(self.interval_ticks, first, backoff_max_ticks)

    # -- polling ------------------------------------------------------------------------
    def begin(self) -> list[Reading]:
        """Start a poll: clear what the last one found; the list its readings go into."""
        self.failed, self.error = False, None
        self.hidden.clear()
        return []

    async def poll(
        self, start: int = 0, out: list[Reading] | None = None, sent: InFlight | None = None,
    ) -> list[Reading]:
        """One poll (caller holds the bus lock). Never raises for a device problem.

        A poll the driver's ``PollCycle`` began without a coroutine (``begin``,
        ``take``) is carried on from its read ``start``, whose first attempt
        ``sent`` ended other than with a good reply, with the readings ``out``
        taken so far: from there on it is the same poll as one begun here.
        """
        if out is None:
            out = self.begin()
        hidden = self.hidden
        bus, timeout, retries = self.bus, self.timeout, self.retries
        i = start
        while i < len(self.requests):
            req = self.requests[i]
            if self.error is not None and self.error.kind in _GIVE_UP:
                self._fail_request(i, self.error, out)
                i += 1
                continue
            attempt, sent = sent, None
            try:
                regs = registers_of(
                    await bus.execute(self.pdus[i], timeout, retries, self.tails[i], attempt),
                    req.function_code, req.count)
            except BusError as err:
                if err.kind == "exception" and err.code == 2 and req.has_gap:
                    self._split(i)  # the gap holds registers the device lacks: read the parts
                    continue
                self.failed, self.error = True, err
                self._fail_request(i, err, out)
                i += 1
                continue
            self.take(i, regs, out)
            i += 1
        out, faults = self.settle(out)
        counter = self.counter
        if counter is not None:
            emitted = len(out)
            if _COUNT in hidden and not self.failed:
                try:
                    await counter.poll(
                        self, hidden[_COUNT], flow_lpm=flow_lpm(counter.spec, hidden.get(_FLOW)),
                        hold_s=hidden.get(_HOLD), faults=faults[1] if faults else None, out=out,
                    )
                except BusError as err:
                    self.failed, self.error = True, err
            if self.error is not None and len(out) == emitted:
                # records wait in the counter's buffer; meanwhile say it cannot be reached
                detail = f"{self.error.kind}: {self.error}"
                ts = utc_now_ns()
                out.extend(Reading(c, None, Quality.COMM_ERROR, ts, None, None, detail)
                           for c in counter.channel_ids)
        self.count_quality(out)
        return out

    def take(self, i: int, regs: Sequence[int], out: list[Reading]) -> bool:
        """Decode the reply to read ``i`` into ``out`` (and the hidden registers); True
        when its readings are known to be good (none for ``count_quality`` to count)."""
        ts = utc_now_ns()
        direct = self.direct[i]
        if direct is not None:
            return decode_direct(direct, self.ids[i], regs, ts, out)
        hidden = self.hidden
        for index, dec in self.requests[i].channels:
            if dec.hidden:
                hidden[dec.name] = dec.assemble(regs, index)
            else:
                out.append(dec.decode(regs, index, ts))
        return False

    def settle(self, out: list[Reading]) -> tuple[list[Reading], tuple[Quality, str] | None]:
        """The readings qualified by the status word read with them, and its fault."""
        faults = self._faults(self.hidden.get(_STATUS))
        if faults is not None:
            out = [self._qualify(r, faults) for r in out]
        return out, faults

    def _fail_request(self, i: int, err: BusError, out: list[Reading]) -> None:
        ts = utc_now_ns()
        detail = f"{err.kind}: {err}"
        ids = self.ids[i]
        if ids:  # a direct read: no hidden channel, and maybe another device's decoders
            out.extend(Reading(c, None, Quality.COMM_ERROR, ts, None, None, detail)
                       for c in ids)
            return
        for _, dec in self.requests[i].channels:
            if not dec.hidden:
                out.append(Reading(dec.channel, None, Quality.COMM_ERROR, ts, None, None, detail))

    def _split(self, i: int) -> None:
        request, ids = self.requests[i], self.ids[i]
        parts = tuple(split(request))
        pdus = tuple(prebuilt_request(r.function_code, r.address, r.count, self.unit)
                     for r in parts)
        direct = tuple(direct_plan(r.channels) for r in parts)
        # new tuples: the old ones may be shared with the other devices of the profile
        self.requests = (*self.requests[:i], *parts, *self.requests[i + 1:])
        self.pdus = (*self.pdus[:i], *pdus, *self.pdus[i + 1:])
        self.tails = (*self.tails[:i], *(frame_tail(p) for p in pdus), *self.tails[i + 1:])
        self.direct = (*self.direct[:i], *direct, *self.direct[i + 1:])
        if not ids:
            named_parts = tuple(_ids(r, d) for r, d in zip(parts, direct, strict=True))
        else:
            # a direct read's parts are direct reads of the same decoders: named as before
            named = {id(dec): cid for (_, dec), cid in zip(request.channels, ids, strict=True)}
            assert all(d is not None for d in direct)
            named_parts = tuple(tuple(named[id(dec)] for _, dec in r.channels) for r in parts)
        self.ids = (*self.ids[:i], *named_parts, *self.ids[i + 1:])

    def _faults(self, word: int | None) -> tuple[Quality, str] | None:
        if word is None or not self.status_bits:
            return None
        active = active_conditions(word, self.status_bits)
        if not active:
            return None
        return Quality(active[0].quality), ", ".join(b.name for b in active)

    @staticmethod
    def _qualify(reading: Reading, fault: tuple[Quality, str]) -> Reading:
        if reading.quality is not _GOOD and reading.quality is not _OUT_OF_RANGE:
            return reading
        return Reading(reading.channel, reading.value, fault[0], reading.ts_ns, reading.raw,
                       reading.device_ts_ns, fault[1])

    def count_quality(self, out: list[Reading]) -> None:
        errors = self.status.errors
        for r in out:
            quality = r.quality
            if quality is not _GOOD and quality is not _COMM_ERROR:
                errors[quality.value] += 1

    # -- DeviceIO for the record reader -------------------------------------------------
    async def read_input(self, address: int, count: int) -> Sequence[int]:
        return await self.bus.read(4, address, count, self.unit, self.timeout, self.retries)

    async def write_register(self, address: int, value: int) -> None:
        await self.bus.write_register(address, value, self.unit, self.timeout)
