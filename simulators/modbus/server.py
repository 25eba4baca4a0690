"""``ModbusSimulator``: pymodbus servers serving simulated devices by unit id.

One simulator is one listening endpoint (a TCP port, speaking MBAP or RTU
framing, or a serial port) with any number of unit ids behind it, like a
gateway or an RS-485 bus. Every request is counted per unit id and function
code (tests check coalescing with it) and passes through the unit's
communication fault, if one is set.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

from monitor.config.devices import RegisterTable
from simulators.devices.base import DeviceModel
from simulators.devices.environment import World

from .devices import SimulatedDevice
from .faults import CommFault, mangle, reply_unit
from .maps import TABLE_OF_FC

log = logging.getLogger("simulators.modbus")
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

FRAMERS = {"socket": FramerType.SOCKET, "rtu": FramerType.RTU, "ascii": FramerType.ASCII}


class _Unit:
    """A unit id's datastore hook: refresh registers on read, apply writes, raise faults."""

    def __init__(self, sim: ModbusSimulator, device: SimulatedDevice) -> None:
        self.sim = sim
        self.device = device

    async def action(  # noqa: PLR0917  (signature fixed by pymodbus)
        self, function_code: int, start_address: int, address: int, count: int,
                     registers: list[int], set_values: list[int] | list[bool] | None,
                     ) -> ExcCodes | None:
        fault = self.sim.fault_of(self.device.unit_id)
        if fault is not None and fault.mode == "exception":
            return ExcCodes(fault.code)
        table = TABLE_OF_FC.get(function_code)
        if table is None:
            return ExcCodes.ILLEGAL_FUNCTION
        return await self.device.map.on_access(table, start_address, address, count, registers,
                                               set_values, self.device.strict)

    def simdevice(self) -> SimDevice:
        blocks: list[list[SimData]] = [[], [], [], []]
        order = (RegisterTable.COIL, RegisterTable.DISCRETE, RegisterTable.HOLDING,
                 RegisterTable.INPUT)
        for i, table in enumerate(order):
            ext = self.device.map.extents.get(table)
            if ext is None:
                # pymodbus needs every block; an empty-looking one that refuses access
                blocks[i].append(SimData(0, count=16 if i < 2 else 1,
                                         datatype=DataType.BITS if i < 2 else DataType.REGISTERS))
                continue
            if i < 2:
                blocks[i].append(SimData(ext.start, count=ext.end - ext.start, values=False,
                                         datatype=DataType.BITS))
            else:
                blocks[i].append(SimData(ext.start, count=ext.end - ext.start, values=0,
                                         datatype=DataType.REGISTERS))
        return SimDevice(self.device.unit_id, simdata=(blocks[0], blocks[1], blocks[2], blocks[3]),
                         action=self.action)


class _Catchall:
    """Unit id 0 of the datastore: answers for every unit id nobody has."""

    def __init__(self, tcp: bool) -> None:
        self.tcp = tcp

    async def action(self, *_args: Any) -> ExcCodes | None:
        return ExcCodes.GATEWAY_NO_RESPONSE

    def simdevice(self) -> SimDevice:
        return SimDevice(0, simdata=[SimData(0, count=65535, values=0,
                                             datatype=DataType.REGISTERS)], action=self.action)


class ModbusSimulator:
    """Serve ``devices`` on one endpoint; use as ``async with``.

    ``framer`` is ``socket`` (Modbus TCP), ``rtu`` or ``ascii``; with
    ``serial_port`` set the server opens that serial device (e.g. one end of
    a pty pair, see ``PtyPair``) instead of listening on TCP, otherwise RTU or
    ASCII framing over TCP imitates a serial-to-Ethernet gateway.
    """

    def __init__(
        self,
        devices: Sequence[SimulatedDevice],
        *,
        world: World | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        framer: str = "socket",
        serial_port: str | None = None,
        baudrate: int = 19200,
        parity: str = "N",
        stopbits: int = 1,
        bytesize: int = 8,
    ) -> None:
        if framer not in FRAMERS:
            raise ValueError(f"framer must be one of {', '.join(FRAMERS)}")
        self.devices = {d.unit_id: d for d in devices}
        if len(self.devices) != len(devices):
            raise ValueError("two simulated devices share a unit id")
        self.by_name = {d.name: d for d in devices}
        self.world = world or (devices[0].model.world if devices else World())
        self.host, self.port, self.framer = host, port, framer
        self.serial_port = serial_port
        self.serial = {"baudrate": baudrate, "parity": parity, "stopbits": stopbits,
                       "bytesize": bytesize}
        self.requests: Counter[tuple[int, int]] = Counter()  # (unit id, function code)
        self.request_log: list[tuple[int, int, int, int]] = []  # unit, fc, address, count
        self.faults: dict[int, CommFault] = {}
        self.server: ModbusTcpServer | ModbusSerialServer | None = None
        self._late: set[asyncio.TimerHandle] = set()

    # -- lifecycle ----------------------------------------------------------------------
    async def __aenter__(self) -> ModbusSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        units = [_Unit(self, d).simdevice() for d in self.devices.values()]
        if 0 not in self.devices:
            units.append(_Catchall(self.serial_port is None).simdevice())
        kwargs: dict[str, Any] = {"framer": FRAMERS[self.framer],
                                    "trace_pdu": self._trace_pdu}
        if self.serial_port is not None:
            server: ModbusTcpServer | ModbusSerialServer = _SerialServer(
                self, units, port=self.serial_port, **self.serial, **kwargs)
        else:
            server = _TcpServer(self, units, address=(self.host, self.port), **kwargs)
        await server.serve_forever(background=True)
        self.server = server
        if self.serial_port is None:
            sockets = server.transport.sockets  # type: ignore[attr-defined]
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for handle in self._late:
            handle.cancel()
        self._late.clear()
        if self.server is not None:
            await self.server.shutdown()  # type: ignore[no-untyped-call]
            self.server = None

    # -- scripting ----------------------------------------------------------------------
    def device(self, name_or_unit: str | int) -> SimulatedDevice:
        if isinstance(name_or_unit, int):
            return self.devices[name_or_unit]
        return self.by_name[name_or_unit]

    def model(self, device: str | int) -> DeviceModel:
        return self.device(device).model

    def set_comm_fault(self, device: str | int, mode: str | None, *, delay: float = 0.0,
                       code: int = 4, duration: float | None = None) -> None:
        """Make a unit misbehave on the wire (``mode=None`` clears it).

        ``duration`` is in simulated seconds.
        """
        unit = self.device(device).unit_id
        if mode is None:
            self.faults.pop(unit, None)
            return
        until = self.world.clock.now() + duration if duration is not None else None
        self.faults[unit] = CommFault(mode, delay, code, until)

    def fault_of(self, unit: int) -> CommFault | None:
        fault = self.faults.get(unit)
        if fault is not None and fault.until is not None and self.world.clock.now() >= fault.until:
            del self.faults[unit]
            return None
        return fault

    def reset_counts(self) -> None:
        self.requests.clear()
        self.request_log.clear()

    # -- wire hooks ---------------------------------------------------------------------
    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            self.requests[(pdu.dev_id, pdu.function_code)] += 1
            if len(self.request_log) < 100_000:
                self.request_log.append((pdu.dev_id, pdu.function_code,
                                         getattr(pdu, "address", 0), getattr(pdu, "count", 0)))
        return pdu

    def trace_reply(self, handler: ServerRequestHandler, sending: bool, data: bytes) -> bytes:
        if not sending:
            return data
        unit = reply_unit(self.framer, data)
        if unit is None:
            return data
        if unit not in self.devices and self.serial_port is not None:
            return b""  # on a serial bus nobody answers for a missing unit
        fault = self.fault_of(unit)
        if fault is None or fault.mode == "exception":
            return data
        if fault.mode == "no_response":
            return b""
        if fault.mode == "late":
            transport = handler.transport
            loop = asyncio.get_running_loop()
            handle = loop.call_later(fault.delay, _late_write, transport, data)
            self._late.add(handle)
            return b""
        return mangle(self.framer, fault, data, unit)


def _late_write(transport: Any, data: bytes) -> None:
    if transport is not None and not transport.is_closing():
        transport.write(data)


class _HookMixin:
    sim: ModbusSimulator

    def callback_new_connection(self) -> ServerRequestHandler:
        handler: ServerRequestHandler = super().callback_new_connection()  # type: ignore[misc]
        sim = self.sim
        handler.trace_packet = lambda sending, data: sim.trace_reply(handler, sending, data)
        return handler


class _TcpServer(_HookMixin, ModbusTcpServer):
    def __init__(self, sim: ModbusSimulator, context: Any, **kwargs: Any) -> None:
        self.sim = sim
        super().__init__(context, **kwargs)


class _SerialServer(_HookMixin, ModbusSerialServer):
    def __init__(self, sim: ModbusSimulator, context: Any, **kwargs: Any) -> None:
        self.sim = sim
        super().__init__(context, **kwargs)
