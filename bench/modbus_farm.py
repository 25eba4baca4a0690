"""Many Modbus TCP devices in one process, cheap enough not to be what a benchmark measures.

A raw asyncio server speaking just enough Modbus TCP (FC03/FC04 reads, FC06/
FC16 writes, exception replies) for thousands of connections: a device is a
(listening port, unit id) pair whose registers default to one shared array,
so 2,000 devices cost one array and a few sockets. Values can be changed, and
faults set, per device while clients poll, from Python (``ModbusFarm``) or, when
run as a process, by lines on stdin:

    set PORT UNIT ADDR VALUE [VALUE...]   -> "ok set <utc ns when applied>"
    fault PORT UNIT MODE [ARG]            -> "ok fault"   (PORT/UNIT may be *)
    stats                                 -> "ok stats <requests> <replies>"

Fault modes: ``normal``, ``silent`` (never answers: a timeout), ``slow SECONDS``,
``exception CODE``, ``garbage`` (random bytes instead of a reply), ``close``
(drops the connection on every request). The shared array holds a slow sine
(``--wave``) so that readings change like real sensors.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import struct
import sys
import time
from dataclasses import dataclass
from typing import cast

REGISTERS = 128
_MBAP = struct.Struct(">HHHB")


@dataclass
class Fault:
    mode: str = "normal"
    arg: float = 0.0


class ModbusFarm:
    """The devices' state and the servers; ``start``/``stop`` from the owning event loop."""

    def __init__(self, ports: list[int], host: str = "127.0.0.1") -> None:
        self.host = host
        self.ports = ports
        self.shared = [0] * REGISTERS
        self.own: dict[tuple[int, int], list[int]] = {}
        self.faults: dict[tuple[int, int], Fault] = {}
        self.default_fault = Fault()
        self.requests = 0
        self.replies = 0
        self.connections = 0
        self._servers: list[asyncio.Server] = []
        self._transports: set[asyncio.Transport] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for port in self.ports:
            server = await loop.create_server(
                lambda p=port: _Connection(self, p), self.host, port, backlog=4096,
                reuse_address=True,
            )
            self._servers.append(server)

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for transport in list(self._transports):
            transport.abort()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    def disconnect_all(self) -> None:
        """Drop every open connection (a device power-cycled or a cable pulled)."""
        for transport in list(self._transports):
            transport.abort()

    def registers(self, port: int, unit: int) -> list[int]:
        return self.own.get((port, unit), self.shared)

    def set_values(self, port: int, unit: int, address: int, values: list[int]) -> None:
        regs = self.own.get((port, unit))
        if regs is None:
            regs = self.own[(port, unit)] = list(self.shared)
        regs[address : address + len(values)] = [v & 0xFFFF for v in values]

    def set_fault(self, port: int | None, unit: int | None, mode: str, arg: float = 0.0) -> None:
        if mode not in {"normal", "silent", "slow", "exception", "garbage", "close"}:
            raise ValueError(f"unknown fault mode {mode!r}")
        fault = Fault(mode, arg)
        if port is None and unit is None:
            self.default_fault = fault
            self.faults.clear()
            return
        ports = self.ports if port is None else [port]
        units = range(256) if unit is None else [unit]
        for p in ports:
            for u in units:
                self.faults[(p, u)] = fault

    def fault_for(self, port: int, unit: int) -> Fault:
        return self.faults.get((port, unit), self.default_fault)

    def wave(self, t: float) -> None:
        """Move the shared registers like slowly varying sensors (values 200..800)."""
        for i in range(10):
            self.shared[i] = int(500 + 300 * math.sin(t / 30.0 + i))

    def answer(self, port: int, unit: int, pdu: bytes) -> bytes:
        """The reply PDU for a request PDU (an exception PDU for what is not supported)."""
        if not pdu:
            return bytes([0x80, 0x01])
        func = pdu[0]
        regs = self.registers(port, unit)
        if func in (3, 4) and len(pdu) >= 5:
            address, count = struct.unpack_from(">HH", pdu, 1)
            if not 1 <= count <= 125:
                return bytes([func | 0x80, 0x03])
            if address + count > REGISTERS:
                return bytes([func | 0x80, 0x02])
            data = struct.pack(f">{count}H", *regs[address : address + count])
            return bytes([func, len(data)]) + data
        if func == 6 and len(pdu) >= 5:
            address, value = struct.unpack_from(">HH", pdu, 1)
            if address >= REGISTERS:
                return bytes([func | 0x80, 0x02])
            self.set_values(port, unit, address, [value])
            return pdu[:5]
        if func == 16 and len(pdu) >= 6:
            address, count = struct.unpack_from(">HH", pdu, 1)
            whole = len(pdu) >= 6 + 2 * count
            values = list(struct.unpack_from(f">{count}H", pdu, 6)) if whole else []
            if not values or address + count > REGISTERS:
                return bytes([func | 0x80, 0x02])
            self.set_values(port, unit, address, values)
            return pdu[:5]
        return bytes([(func | 0x80) & 0xFF, 0x01])


class _Connection(asyncio.Protocol):
    def __init__(self, farm: ModbusFarm, port: int) -> None:
        self.farm = farm
        self.port = port
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: narrow for the type only
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        self.farm._transports.add(transport)
        self.farm.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.farm._transports.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 7:
            tid, pid, length, unit = _MBAP.unpack_from(self.buffer)
            if length < 2 or length > 254:
                self.buffer = b""  # not Modbus: drop what we have, as a device would
                return
            if len(self.buffer) < 6 + length:
                return
            pdu = self.buffer[7 : 6 + length]
            self.buffer = self.buffer[6 + length :]
            self._request(tid, pid, unit, pdu)

    def _request(self, tid: int, pid: int, unit: int, pdu: bytes) -> None:
        farm = self.farm
        farm.requests += 1
        fault = farm.fault_for(self.port, unit)
        mode = fault.mode
        if mode == "silent":
            return
        if mode == "close":
            assert self.transport is not None
            self.transport.abort()
            return
        if mode == "garbage":
            self._send(os.urandom(3 + int.from_bytes(os.urandom(1)) % 40))
            return
        if mode == "exception":
            reply = bytes([(pdu[0] | 0x80) & 0xFF if pdu else 0x80, int(fault.arg) or 4])
        else:
            reply = farm.answer(self.port, unit, pdu)
        frame = _MBAP.pack(tid, pid, len(reply) + 1, unit) + reply
        if mode == "slow":
            asyncio.get_running_loop().call_later(fault.arg, self._send, frame)
        else:
            self._send(frame)

    def _send(self, frame: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame)
            self.farm.replies += 1


async def _control(farm: ModbusFarm) -> None:
    """Apply commands read from stdin; answer each on stdout."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        words = line.decode().split()
        if not words:
            continue
        try:
            if words[0] == "set":
                port, unit, address = int(words[1]), int(words[2]), int(words[3])
                farm.set_values(port, unit, address, [int(v) for v in words[4:]])
                print(f"ok set {time.time_ns()}", flush=True)
            elif words[0] == "fault":
                port_arg = None if words[1] == "*" else int(words[1])
                unit_arg = None if words[2] == "*" else int(words[2])
                farm.set_fault(port_arg, unit_arg, words[3],
                               float(words[4]) if len(words) > 4 else 0.0)
                print("ok fault", flush=True)
            elif words[0] == "stats":
                print(f"ok stats {farm.requests} {farm.replies} {farm.connections}", flush=True)
            else:
                print(f"error unknown command {words[0]!r}", flush=True)
        except (IndexError, ValueError) as err:
            print(f"error {err}", flush=True)


async def _serve(ports: list[int], wave: bool) -> None:
    farm = ModbusFarm(ports)
    await farm.start()
    print(f"ready {' '.join(map(str, ports))}", flush=True)
    control = asyncio.create_task(_control(farm))
    try:
        while not control.done():
            if wave:
                farm.wave(time.time())
            await asyncio.wait({control}, timeout=1.0)
    finally:
        await farm.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ports", required=True, help="comma-separated ports to listen on")
    parser.add_argument("--wave", action="store_true", help="vary the shared registers")
    args = parser.parse_args(argv)
    asyncio.run(_serve([int(p) for p in args.ports.split(",")], args.wave))
    return 0


if __name__ == "__main__":
    sys.exit(main())
