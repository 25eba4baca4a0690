"""Register decoding, compiled once per channel when the driver is built.

Every choice that depends only on the configuration (word and byte order,
signedness, float or integer, scale, sentinels, range) is resolved here into
one small closure per channel, so that a poll does nothing but index a list,
shift a few integers and build the ``Reading``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence

from monitor.config.devices import ByteOrder, ChannelSpec, DataType, RegisterTable
from monitor.model import Quality, Reading, new_reading

Assemble = Callable[[Sequence[int], int], int]
"""(registers, offset) -> the value's bit pattern as an unsigned integer."""

_U32 = struct.Struct(">I")
_F32 = struct.Struct(">f")
# an enum member looked up on its class costs a descriptor call (Python 3.11): once here
_GOOD, _INVALID, _OUT_OF_RANGE = Quality.GOOD, Quality.INVALID, Quality.OUT_OF_RANGE


def _swap(word: int) -> int:
    return ((word & 0xFF) << 8) | (word >> 8)


def assembler(width: int, order: ByteOrder) -> Assemble:
    """The function that puts ``width`` registers together in ``order`` (A most significant).

    Wire order of the registers is R0 R1 ...; a word-swapped order (CDAB, DCBA)
    sends the least significant register first, a byte-swapped order (BADC,
    DCBA) swaps the two bytes inside each register.
    """
    words_reversed = order in (ByteOrder.CDAB, ByteOrder.DCBA)
    bytes_swapped = order in (ByteOrder.BADC, ByteOrder.DCBA)
    if width == 1:
        if bytes_swapped:
            return lambda r, i: ((r[i] & 0xFF) << 8) | (r[i] >> 8)
        return lambda r, i: r[i]
    if width == 2:
        if order is ByteOrder.ABCD:
            return lambda r, i: (r[i] << 16) | r[i + 1]
        if order is ByteOrder.CDAB:
            return lambda r, i: (r[i + 1] << 16) | r[i]
        if order is ByteOrder.BADC:
            return lambda r, i: (_swap(r[i]) << 16) | _swap(r[i + 1])
        return lambda r, i: (_swap(r[i + 1]) << 16) | _swap(r[i])

    def generic(r: Sequence[int], i: int) -> int:
        words = list(r[i : i + width])
        if words_reversed:
            words.reverse()
        value = 0
        for word in words:
            value = (value << 16) | (_swap(word) if bytes_swapped else word)
        return value

    return generic


def encode(value: int | float, dtype: DataType, order: ByteOrder) -> list[int]:
    """Registers (wire order) holding ``value``: the inverse of decoding, for simulators."""
    width = {DataType.U16: 1, DataType.S16: 1, DataType.BOOL: 1, DataType.U32: 2,
             DataType.S32: 2, DataType.F32: 2, DataType.U64: 4}[dtype]
    if dtype is DataType.F32:
        pattern = _U32.unpack(_F32.pack(float(value)))[0]
    else:
        pattern = int(value) & ((1 << (16 * width)) - 1)
    words = [(pattern >> (16 * (width - 1 - k))) & 0xFFFF for k in range(width)]
    if order in (ByteOrder.BADC, ByteOrder.DCBA):
        words = [_swap(w) for w in words]
    if width > 1 and order in (ByteOrder.CDAB, ByteOrder.DCBA):
        words.reverse()
    return words


class ChannelDecoder:
    """Turns a channel's registers into a ``Reading``; all parameters fixed at build time."""

    __slots__ = (
        "address", "assemble", "bit", "channel", "direct", "hi", "hidden", "is_bits", "is_float",
        "lo", "name", "offset", "scale", "sentinels", "sign_bit", "spec", "table", "width",
    )

    def __init__(self, device: str, spec: ChannelSpec, *, hidden: bool = False) -> None:
        if spec.address is None:
            raise ValueError(f"channel {spec.name!r} has no register address")
        self.spec = spec
        self.hidden = hidden  # read for the driver's own use (status word...), not emitted
        self.name = spec.name
        self.channel = f"{device}/{spec.name}"
        self.table = spec.table
        self.address = spec.address
        self.width = spec.register_count
        self.is_bits = spec.table in (RegisterTable.COIL, RegisterTable.DISCRETE)
        self.is_float = spec.type is DataType.F32
        self.assemble = assembler(self.width, spec.byte_order)
        # one register in wire order (most channels) is read in place, without the call
        self.direct = self.width == 1 and spec.byte_order in (ByteOrder.ABCD, ByteOrder.CDAB)
        self.sign_bit = {DataType.S16: 1 << 15, DataType.S32: 1 << 31}.get(spec.type, 0)
        self.bit = spec.bit
        self.scale = spec.scale
        self.offset = spec.offset
        mask = (1 << (16 * self.width)) - 1
        self.sentinels = frozenset(v & mask for v in spec.nan_values)
        self.lo, self.hi = spec.range if spec.range is not None else (-math.inf, math.inf)

    def decode(self, regs: Sequence[int], index: int, ts_ns: int) -> Reading:
        """``regs[index]`` is this channel's first register in a reply."""
        if self.is_bits:
            value = 1.0 if regs[index] else 0.0
            return new_reading(Reading, (self.channel, value, _GOOD, ts_ns, value, None, None))
        pattern = regs[index] if self.direct else self.assemble(regs, index)
        if pattern in self.sentinels:
            return Reading(self.channel, None, _INVALID, ts_ns, float(pattern),
                           detail=f"sentinel value {pattern:#x}")
        raw: float
        if self.bit is not None:
            raw = float(pattern)
            value = float((pattern >> self.bit) & 1)
            return new_reading(Reading, (self.channel, value, _GOOD, ts_ns, raw, None, None))
        if self.is_float:
            raw = _F32.unpack(_U32.pack(pattern))[0]
            if not math.isfinite(raw):
                return Reading(self.channel, None, _INVALID, ts_ns, None,
                               detail="NaN" if math.isnan(raw) else "infinite")
        elif self.sign_bit and pattern & self.sign_bit:
            raw = float(pattern - (self.sign_bit << 1))
        else:
            raw = float(pattern)
        value = raw * self.scale + self.offset
        if value < self.lo or value > self.hi:
            return Reading(self.channel, value, _OUT_OF_RANGE, ts_ns, raw,
                           detail="below range" if value < self.lo else "above range")
        return new_reading(Reading, (self.channel, value, _GOOD, ts_ns, raw, None, None))


#: One channel of a read whose channels are all single registers read in place:
#: (decoder, index in the reply, sign bit, scale, offset, low, high). Nothing in it names
#: the device, so the devices of a profile share one plan (``build_cache.share_direct``)
#: and each keeps only its channel ids: one plan in the CPU's caches, not one per device.
DirectChannel = tuple[ChannelDecoder, int, int, float, float, float, float]


def direct_plan(channels: Sequence[tuple[int, ChannelDecoder]]) -> tuple[DirectChannel, ...] | None:
    """The read's channels as plain tuples if each is one emitted register, read in place,
    with no bit, no sentinel and no float (the usual 16-bit sensor value); else ``None``."""
    plan: list[DirectChannel] = []
    for index, dec in channels:
        if (dec.hidden or dec.is_bits or not dec.direct or dec.bit is not None
                or dec.sentinels or dec.is_float):
            return None
        plan.append((dec, index, dec.sign_bit, dec.scale, dec.offset, dec.lo, dec.hi))
    return tuple(plan)


def decode_direct(plan: Sequence[DirectChannel], channel_ids: Sequence[str],
                  regs: Sequence[int], ts_ns: int, out: list[Reading]) -> bool:
    """``ChannelDecoder.decode`` of every channel of ``plan`` into ``out``, as the channels
    ``channel_ids`` (in the plan's order), without a method call and its attribute
    look-ups per channel; a value outside its range takes ``decode`` itself (its quality
    and detail). True when every reading is good."""
    append = out.append
    good = True
    for (dec, index, sign_bit, scale, offset, lo, hi), channel in zip(
            plan, channel_ids, strict=True):
        pattern = regs[index]
        raw = float(pattern - (sign_bit << 1)) if pattern & sign_bit else float(pattern)
        value = raw * scale + offset
        if lo <= value <= hi:
            append(new_reading(Reading, (channel, value, _GOOD, ts_ns, raw, None, None)))
        else:
            reading = dec.decode(regs, index, ts_ns)  # a shared plan's decoder: another id
            append(reading._replace(channel=channel))
            good = False
    return good
