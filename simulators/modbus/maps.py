"""Register images of simulated devices, built from the same profiles the daemon reads.

``ProfileMap`` serves any register-mapped profile (DP, T/RH, incubator): each
read re-evaluates the device model and encodes every channel the way the
profile says (type, byte order, scale, offset, bit), so a new profile gets a
simulator for free. ``CounterMap`` imitates a Lighthouse-style remote
particle counter: a record buffer selected through the record index register.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pymodbus.constants import ExcCodes

from monitor.config.devices import (
    ChannelSpec,
    DataType,
    ProfileConfig,
    RegisterTable,
    StatusBit,
    StatusWord,
)
from monitor.drivers.modbus.decode import encode
from simulators.devices.base import DeviceModel
from simulators.devices.particle_counter import ParticleCounterModel

TABLE_OF_FC = {1: RegisterTable.COIL, 5: RegisterTable.COIL, 15: RegisterTable.COIL,
               2: RegisterTable.DISCRETE, 3: RegisterTable.HOLDING, 6: RegisterTable.HOLDING,
               16: RegisterTable.HOLDING, 4: RegisterTable.INPUT}
_LIMITS = {DataType.U16: (0, 0xFFFF), DataType.S16: (-0x8000, 0x7FFF),
           DataType.U32: (0, 0xFFFFFFFF), DataType.S32: (-0x80000000, 0x7FFFFFFF),
           DataType.U64: (0, (1 << 64) - 1), DataType.BOOL: (0, 1)}


def _matches(bit: StatusBit, conditions: set[str]) -> bool:
    name = bit.name.replace("_", " ").lower()
    return any(c.replace("_", " ").lower() in name for c in conditions)


def status_value(word: StatusWord | None, bits: list[StatusBit], conditions: set[str]) -> int:
    value = 0
    for bit in (word.bits if word is not None else bits):
        if _matches(bit, conditions) != bit.active_low:
            value |= 1 << bit.bit
    return value


def channel_registers(spec: ChannelSpec, value: float) -> list[int]:
    """What a device holding ``value`` (physical units) shows in ``spec``'s registers."""
    if spec.type is DataType.F32:
        return encode((value - spec.offset) / spec.scale, DataType.F32, spec.byte_order)
    if isinstance(value, int) and spec.scale == 1 and spec.offset == 0:
        raw = value  # exact, even for 64-bit values a float cannot hold
    elif math.isnan(value):  # NaN in an integer register: the profile's sentinel
        raw = spec.nan_values[0] if spec.nan_values else 0
    else:
        raw = round((value - spec.offset) / spec.scale)
    lo, hi = _LIMITS[spec.type]
    raw = min(max(raw, lo), hi)
    return encode(raw, spec.type, spec.byte_order)


def channel_width(dtype: DataType) -> int:
    return {DataType.U32: 2, DataType.S32: 2, DataType.F32: 2, DataType.U64: 4}.get(dtype, 1)


@dataclass
class Extent:
    start: int
    end: int  # exclusive
    defined: set[int]  # addresses that exist (others answer 'illegal data address')


class RegisterMapBase:
    def __init__(self, profile: ProfileConfig, model: DeviceModel) -> None:
        self.profile = profile
        self.model = model
        self.extents: dict[RegisterTable, Extent] = {}

    def _cover(self, table: RegisterTable, address: int, count: int) -> None:
        ext = self.extents.get(table)
        rng = set(range(address, address + count))
        if ext is None:
            self.extents[table] = Extent(address, address + count, rng)
        else:
            ext.start, ext.end = min(ext.start, address), max(ext.end, address + count)
            ext.defined |= rng

    async def on_access(  # noqa: PLR0917  (mirrors the pymodbus action)
        self, table: RegisterTable, start: int, address: int, count: int,
                        regs: list[int], values: list[int] | list[bool] | None,
                        strict: bool) -> ExcCodes | None:
        ext = self.extents.get(table)
        if ext is None:
            return ExcCodes.ILLEGAL_ADDRESS
        span = range(address, address + (count if table not in (
            RegisterTable.COIL, RegisterTable.DISCRETE) else 1))
        if strict and any(a not in ext.defined for a in span):
            return ExcCodes.ILLEGAL_ADDRESS
        if values is not None:
            return self.write(table, address, values)
        self.fill(table, start, regs)
        return None

    def fill(self, table: RegisterTable, start: int, regs: list[int]) -> None:
        raise NotImplementedError

    def write(self, table: RegisterTable, address: int,
              values: list[int] | list[bool]) -> ExcCodes | None:
        return ExcCodes.ILLEGAL_ADDRESS


class ProfileMap(RegisterMapBase):
    """Any register-mapped profile, driven by a device model.

    Writes (FC05/06/15/16) to the profile's command addresses are accepted and
    kept in ``writes`` (a coil or register the device would act on); writes
    elsewhere are refused with 'illegal data address'.
    """

    def __init__(self, profile: ProfileConfig, model: DeviceModel) -> None:
        super().__init__(profile, model)
        self.writes: list[tuple[RegisterTable, int, int]] = []  # (table, address, value)
        self.writable: set[tuple[RegisterTable, int]] = set()
        for cmd in profile.commands.values():
            table = RegisterTable.COIL if cmd.table == "coil" else RegisterTable.HOLDING
            width = 1 if table is RegisterTable.COIL else channel_width(cmd.type)
            self._cover(table, cmd.address, width)
            self.writable.update((table, cmd.address + k) for k in range(width))
        for ch in profile.channels:
            if ch.address is not None:
                self._cover(ch.table, ch.address, ch.register_count)
        if profile.status is not None:
            self._cover(profile.status.table, profile.status.address,
                        2 if profile.status.type == "u32" else 1)

    def write(self, table: RegisterTable, address: int,
              values: list[int] | list[bool]) -> ExcCodes | None:
        if any((table, address + k) not in self.writable for k in range(len(values))):
            return ExcCodes.ILLEGAL_ADDRESS
        self.writes.extend((table, address + k, int(v)) for k, v in enumerate(values))
        return None

    def fill(self, table: RegisterTable, start: int, regs: list[int]) -> None:
        now = self.model.now()
        values = self.model.read(now)
        conditions = self.model.conditions(now)
        bit_table = table in (RegisterTable.COIL, RegisterTable.DISCRETE)
        words: dict[int, int] = {}
        for ch in self.profile.channels:
            if ch.table is not table or ch.address is None:
                continue
            value = values.get(ch.quantity, values.get(ch.name, 0.0))
            if bit_table:
                words[ch.address] = 1 if value else 0
            elif ch.bit is not None:
                words[ch.address] = words.get(ch.address, 0) | (int(bool(value)) << ch.bit)
            else:
                for k, reg in enumerate(channel_registers(ch, value)):
                    words[ch.address + k] = reg
        st = self.profile.status
        if st is not None and st.table is table:
            word = status_value(st, [], conditions)
            words[st.address] = words.get(st.address, 0) | (word & 0xFFFF)
        if bit_table:
            for address, bit in words.items():
                reg, pos = divmod(address, 16)
                if 0 <= reg - start < len(regs):
                    regs[reg - start] = (regs[reg - start] & ~(1 << pos)) | (bit << pos)
            return
        for address, reg in words.items():
            if 0 <= address - start < len(regs):
                regs[address - start] = reg


class CounterMap(RegisterMapBase):
    """A Lighthouse-style remote counter (register map v1.50 layout, see the profile)."""

    MAP_VERSION = 150
    PRODUCT = "SIM REMOTE 5104"
    MODEL = "LIGHTHOUSE-STYLE"

    def __init__(self, profile: ProfileConfig, model: ParticleCounterModel,
                 serial: int = 1000) -> None:
        super().__init__(profile, model)
        assert profile.particle_counter is not None
        self.pc = profile.particle_counter
        self.counter = model
        self.serial = serial
        self.index = 0xFFFF  # -1: the newest record
        self.clock_offset = 0.0
        self.count_channels = sorted(
            (c for c in profile.channels if c.quantity.startswith("particles_")),
            key=lambda c: c.address or 0,
        )
        self._cover(RegisterTable.HOLDING, 0, 34)
        self._cover(RegisterTable.INPUT, 0, 76)
        self.reads_of_records = 0

    # -- holding: configuration and control -------------------------------------------
    def _holding(self) -> dict[int, int]:
        m = self.counter
        m.update()
        pc = self.pc
        now = int(m.now() + self.clock_offset)
        status = status_value(self.profile.status, [], m.conditions(m.now()))
        words = {0: self.MAP_VERSION, 1: 0, 3: 0x0105, 4: self.serial >> 16,
                 5: self.serial & 0xFFFF}
        words.update(_ascii(6, self.PRODUCT, 8))
        words.update(_ascii(14, self.MODEL, 8))
        words.update({26: now >> 16, 27: now & 0xFFFF, 28: 0, 29: 0,
                      30: m.hold_s >> 16, 31: m.hold_s & 0xFFFF,
                      32: m.sample_s >> 16, 33: m.sample_s & 0xFFFF})
        if self.profile.status is not None:
            words[self.profile.status.address] = status & 0xFFFF
        if pc.flow_address is not None:
            flow = m.flow_lpm / 28.316846592 if pc.flow_unit == "cfm" else m.flow_lpm
            words[pc.flow_address] = round(flow / pc.flow_scale)
        words[pc.record_count_address] = min(len(m.records), 0xFFFF)
        words[pc.record_index_address] = self.index
        return words

    def fill(self, table: RegisterTable, start: int, regs: list[int]) -> None:
        words = self._holding() if table is RegisterTable.HOLDING else self._record_words()
        for address, reg in words.items():
            if 0 <= address - start < len(regs):
                regs[address - start] = reg & 0xFFFF

    def _record_words(self) -> dict[int, int]:
        m = self.counter
        m.update()
        words = dict.fromkeys(range(76), 0)
        words[73] = len(self.count_channels)
        if not m.records:
            return words
        idx = len(m.records) - 1 if self.index == 0xFFFF else self.index
        if idx >= len(m.records):
            return words
        rec = m.records[idx]
        self.reads_of_records += 1
        pc = self.pc
        base = pc.record_address
        for offset, value in ((pc.timestamp_offset, rec.ts), (pc.sample_time_offset,
                              rec.sample_s), (4, rec.location_no)):
            words[base + offset], words[base + offset + 1] = value >> 16, value & 0xFFFF
        if pc.data_status_offset is not None:
            words[base + pc.data_status_offset] = rec.data_status >> 16
            words[base + pc.data_status_offset + 1] = rec.data_status & 0xFFFF
        for ch, count in zip(self.count_channels, rec.counts, strict=False):
            for k, reg in enumerate(encode(count, ch.type, ch.byte_order)):
                words[(ch.address or 0) + k] = reg
        words[75] = 1 if rec.data_status & 0x4 else 0
        return words

    def write(self, table: RegisterTable, address: int,
              values: list[int] | list[bool]) -> ExcCodes | None:
        if table is not RegisterTable.HOLDING:
            return ExcCodes.ILLEGAL_ADDRESS
        m = self.counter
        for offset, raw in enumerate(values):
            reg = address + offset
            value = int(raw)
            if reg == self.pc.record_index_address:
                m.update()
                if value != 0xFFFF and value >= len(m.records):
                    return ExcCodes.ILLEGAL_VALUE
                self.index = value
            elif reg == 1:
                result = self.command(value)
                if result is not None:
                    return result
            elif reg in (30, 31, 32, 33):
                pass  # applied below from the full pair
            elif reg not in (26, 27, 28, 29):
                return ExcCodes.ILLEGAL_ADDRESS
        regs = {address + i: int(v) for i, v in enumerate(values)}
        if 32 in regs and 33 in regs:
            m.update()
            m.sample_s = max(1, (regs[32] << 16) | regs[33])
        if 30 in regs and 31 in regs:
            m.update()
            m.hold_s = (regs[30] << 16) | regs[31]
        if 26 in regs and 27 in regs:
            self._pending_clock = (regs[26] << 16) | regs[27]
        return None

    def command(self, code: int) -> ExcCodes | None:
        m = self.counter
        if code == 1:
            m.save_now()
        elif code == 3:
            m.clear()
        elif code in (9, 11):
            m.start()
        elif code in (10, 12):
            m.stop()
        elif code == 13:
            pending = getattr(self, "_pending_clock", None)
            if pending is not None:
                self.clock_offset = pending - m.now()
        elif code not in (4, 5, 6):
            return ExcCodes.ILLEGAL_VALUE
        return None


def _ascii(address: int, text: str, registers: int) -> dict[int, int]:
    data = text.encode("ascii")[: registers * 2].ljust(registers * 2, b" ")
    return {address + i: (data[2 * i] << 8) | data[2 * i + 1] for i in range(registers)}


def is_nan(value: float) -> bool:
    return isinstance(value, float) and math.isnan(value)
