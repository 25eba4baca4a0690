"""The record buffer of a remote particle counter (Lighthouse-style).

A remote counter samples (e.g. 60 s), holds, samples again, and files every
finished sample as a record in its own buffer: the counter is its own
store-and-forward. The host writes a record index (0 = oldest, ``count-1`` =
newest) and reads the selected record: timestamp, sample time, data status,
one count per particle channel.

The reader keeps a cursor (the timestamp of the last record it emitted) and
on each poll emits exactly the records newer than it, oldest first, so that a
record is never emitted twice and records filed while the link was down are
read from the buffer afterwards. Only when the record after the cursor is no
longer in the buffer (overwritten or cleared) are records truly lost: then
one ``comm_error`` reading per particle channel marks the gap, with the lost
period in its detail, before the first record that survived.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from monitor.config.devices import ChannelSpec, ParticleCounterSpec, StatusBit
from monitor.drivers.base import DeviceStatus
from monitor.model import Quality, Reading, utc_now_ns

from .decode import ChannelDecoder

CFM_TO_LPM = 28.316846592
NS = 1_000_000_000


class DeviceIO(Protocol):
    async def read_input(self, address: int, count: int) -> Sequence[int]: ...

    async def write_register(self, address: int, value: int) -> None: ...


@dataclass(slots=True)
class Record:
    index: int
    ts: int  # Unix seconds, the counter's clock
    sample_s: int
    status: int
    counts: list[int]


def is_count_channel(spec: ChannelSpec) -> bool:
    return spec.quantity.startswith("particles_")


def is_record_channel(spec: ChannelSpec) -> bool:
    return is_count_channel(spec) or spec.quantity == "sample_volume"


def active_conditions(word: int, bits: Sequence[StatusBit]) -> list[StatusBit]:
    return [b for b in bits if ((word >> b.bit) & 1) != b.active_low and b.quality != "none"]


def _iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CounterReader:
    """Reads each record of one counter once, in order, and marks truly lost ones."""

    def __init__(
        self, device: str, spec: ParticleCounterSpec, channels: Sequence[ChannelSpec],
        status: DeviceStatus, cursor: int | None = None,
    ) -> None:
        self.device = device
        self.spec = spec
        self.status = status
        counts = sorted((c for c in channels if is_count_channel(c)),
                        key=lambda c: c.address or 0)
        self.count_decoders = [ChannelDecoder(device, c) for c in counts]
        self.channel_ids = [d.channel for d in self.count_decoders]
        self.volume_channel = next(
            (f"{device}/{c.name}" for c in channels if c.quantity == "sample_volume"), None
        )
        if self.volume_channel is not None:
            self.channel_ids.append(self.volume_channel)
        base = spec.record_address
        ends = [d.address + d.width for d in self.count_decoders]
        ends += [base + spec.timestamp_offset + 2, base + spec.sample_time_offset + 2]
        if spec.data_status_offset is not None:
            ends.append(base + spec.data_status_offset + 2)
        self.block_start = base
        self.block_len = max(ends) - base
        if self.block_len > 125:
            raise ValueError(f"{device}: a record spans {self.block_len} registers (max 125)")
        self.cursor = cursor  # timestamp of the last record emitted
        self.records_read = 0
        self.records_lost = 0

    # -- reading records ----------------------------------------------------------------
    async def _record(self, io: DeviceIO, index: int) -> Record:
        await io.write_register(self.spec.record_index_address, index)
        regs = await io.read_input(self.block_start, self.block_len)
        s = self.spec
        ts = (regs[s.timestamp_offset] << 16) | regs[s.timestamp_offset + 1]
        sample = (regs[s.sample_time_offset] << 16) | regs[s.sample_time_offset + 1]
        st = 0
        if s.data_status_offset is not None:
            st = (regs[s.data_status_offset] << 16) | regs[s.data_status_offset + 1]
        counts = [d.assemble(regs, d.address - self.block_start) for d in self.count_decoders]
        return Record(index, ts, sample, st, counts)

    async def _first_newer(self, io: DeviceIO, count: int, newest: Record,
                           cache: dict[int, Record]) -> int:
        """Index of the oldest record newer than the cursor (binary search on timestamps)."""
        assert self.cursor is not None
        cache[newest.index] = newest
        lo, hi = 0, newest.index  # answer in [lo, hi]; records[hi].ts > cursor
        if hi >= 1:  # the common case: exactly one new record
            prev = cache.get(hi - 1) or await self._record(io, hi - 1)
            cache[hi - 1] = prev
            if prev.ts <= self.cursor:
                return hi
            hi -= 1
        while lo < hi:
            mid = (lo + hi) // 2
            rec = cache.get(mid) or await self._record(io, mid)
            cache[mid] = rec
            if rec.ts > self.cursor:
                hi = mid
            else:
                lo = mid + 1
        return lo

    async def poll(
        self, io: DeviceIO, record_count: int, *, flow_lpm: float, hold_s: int | None,
        faults: str | None, out: list[Reading],
    ) -> None:
        """Append the readings of every record not yet emitted to ``out``."""
        if record_count <= 0:
            return
        newest = await self._record(io, record_count - 1)
        if self.cursor is None:  # nothing known about earlier records: start at the newest
            self._emit(newest, flow_lpm, faults, out)
            return
        if newest.ts == self.cursor:
            return
        if newest.ts < self.cursor:  # the counter's clock went back or its buffer was reset
            self.status.errors["clock_went_back"] += 1
            self._emit(newest, flow_lpm, faults, out)
            return
        cache: dict[int, Record] = {}
        first = await self._first_newer(io, record_count, newest, cache)
        cycle = newest.sample_s + (hold_s or 0)
        if first == 0:
            oldest = cache.get(0) or await self._record(io, 0)
            if oldest.ts - self.cursor > 1.5 * max(cycle, 1):
                self._mark_gap(oldest, cycle, out)
        last = min(record_count - 1, first + self.spec.max_catch_up - 1)
        for index in range(first, last + 1):
            rec = cache.get(index) or await self._record(io, index)
            if rec.ts <= self.cursor:  # the buffer moved under us: never emit a record twice
                continue
            self._emit(rec, flow_lpm, faults if index == record_count - 1 else None, out)

    # -- turning records into readings --------------------------------------------------
    def _emit(self, rec: Record, flow_lpm: float, faults: str | None, out: list[Reading]) -> None:
        now = utc_now_ns()
        end = rec.ts + rec.sample_s if self.spec.timestamp_is == "sample_start" else rec.ts
        device_ts = end * NS
        volume_l = flow_lpm * rec.sample_s / 60.0
        quality, detail = Quality.GOOD, faults
        if faults:
            quality = Quality.DEVICE_FAULT
        conditions = active_conditions(rec.status, self.spec.data_status_bits)
        if conditions:
            names = ", ".join(c.name for c in conditions)
            detail = f"{detail}, {names}" if detail else names
            if quality is Quality.GOOD:
                quality = Quality(conditions[0].quality)
        if volume_l <= 0 and quality is Quality.GOOD:
            quality, detail = Quality.INVALID, "zero sample volume"
        cumulative = self._cumulative(rec.counts)
        for dec, raw, cum in zip(self.count_decoders, rec.counts, cumulative, strict=True):
            value = cum / (volume_l / 1000.0) if volume_l > 0 else None
            q, d = quality, detail
            if q is Quality.GOOD and value is not None and not dec.lo <= value <= dec.hi:
                q, d = Quality.OUT_OF_RANGE, "above range" if value > dec.hi else "below range"
            out.append(Reading(dec.channel, value, q, now, float(raw), device_ts, d))
        if self.volume_channel is not None:
            out.append(Reading(self.volume_channel, volume_l, quality, now,
                               float(rec.sample_s), device_ts, detail))
        self.cursor = rec.ts
        self.records_read += 1

    def _cumulative(self, counts: list[int]) -> list[int]:
        if self.spec.counts == "cumulative":
            return counts
        total = 0
        out = [0] * len(counts)
        for i in range(len(counts) - 1, -1, -1):
            total += counts[i]
            out[i] = total
        return out

    def _mark_gap(self, oldest: Record, cycle: int, out: list[Reading]) -> None:
        assert self.cursor is not None
        lost = max(1, round((oldest.ts - self.cursor) / max(cycle, 1)) - 1)
        self.records_lost += lost
        self.status.errors["records_lost"] += lost
        detail = (f"records lost: about {lost} between {_iso(self.cursor)} and "
                  f"{_iso(oldest.ts)} (counter buffer overwritten or cleared)")
        now = utc_now_ns()
        first_lost = (self.cursor + max(cycle, 1)) * NS
        for dec in self.count_decoders:
            out.append(Reading(dec.channel, None, Quality.COMM_ERROR, now, None, first_lost,
                               detail))


def flow_lpm(spec: ParticleCounterSpec, flow_register: int | None) -> float:
    """The counter's flow in L/min, from its register when it has one."""
    if flow_register is None or flow_register == 0:
        return spec.nominal_flow_lpm
    flow = flow_register * spec.flow_scale
    return flow * CFM_TO_LPM if spec.flow_unit == "cfm" else flow
