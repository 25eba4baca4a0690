"""Request planning: a device's channels grouped into the fewest Modbus reads.

Channels of one table are sorted by address and merged while the unused
registers between them stay within ``max_gap`` and the read stays within the
protocol limit (125 registers, 2000 bits). Plans are built once per device;
a read that spans a gap and is refused with "illegal data address" (the gap
holds registers the device does not have) is split into its gap-free parts
for the rest of the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from monitor.config.devices import RegisterTable

from .decode import ChannelDecoder

FUNCTION_CODES = {
    RegisterTable.COIL: 1, RegisterTable.DISCRETE: 2,
    RegisterTable.HOLDING: 3, RegisterTable.INPUT: 4,
}
MAX_BITS = 2000


@dataclass(slots=True)
class ReadRequest:
    """One read: function code, first address, count, and what sits where in the reply."""

    function_code: int
    address: int
    count: int
    channels: list[tuple[int, ChannelDecoder]] = field(default_factory=list)  # (index, decoder)
    has_gap: bool = False

    @property
    def end(self) -> int:
        return self.address + self.count


def plan_reads(
    decoders: Iterable[ChannelDecoder], *, max_gap: int, max_registers: int
) -> list[ReadRequest]:
    """The fewest reads covering ``decoders``; identical channels share one read."""
    by_table: dict[RegisterTable, list[ChannelDecoder]] = {}
    for dec in decoders:
        by_table.setdefault(dec.table, []).append(dec)
    requests: list[ReadRequest] = []
    for table in (RegisterTable.HOLDING, RegisterTable.INPUT, RegisterTable.COIL,
                  RegisterTable.DISCRETE):
        decs = sorted(by_table.get(table, ()), key=lambda d: (d.address, d.width))
        limit = MAX_BITS if table in (RegisterTable.COIL, RegisterTable.DISCRETE) else max_registers
        fc = FUNCTION_CODES[table]
        current: ReadRequest | None = None
        for dec in decs:
            end = dec.address + dec.width
            if (
                current is not None
                and dec.address - current.end <= max_gap
                and max(end, current.end) - current.address <= limit
            ):
                if dec.address > current.end:
                    current.has_gap = True
                current.count = max(end, current.end) - current.address
            else:
                current = ReadRequest(fc, dec.address, dec.width)
                requests.append(current)
            current.channels.append((dec.address - current.address, dec))
    return requests


def split(request: ReadRequest) -> list[ReadRequest]:
    """The gap-free reads a coalesced read was made of."""
    parts: list[ReadRequest] = []
    current: ReadRequest | None = None
    for _, dec in sorted(request.channels, key=lambda c: c[0]):
        if current is not None and dec.address <= current.end:
            current.count = max(current.end, dec.address + dec.width) - current.address
        else:
            current = ReadRequest(request.function_code, dec.address, dec.width)
            parts.append(current)
        current.channels.append((dec.address - current.address, dec))
    return parts


def total_registers(requests: Sequence[ReadRequest]) -> int:
    return sum(r.count for r in requests)
