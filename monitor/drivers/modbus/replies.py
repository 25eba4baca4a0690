"""Register read replies decoded in one step, and the request frames built once.

pymodbus 3.16 decodes a FC03/FC04 reply one ``struct.unpack`` per register
and then formats the whole PDU (every register) for a debug log line even
when debug logging is off (``DecodePDU.decode`` passes ``str(pdu)`` as an
argument). At 2,000 devices polled each second that is ~5 % of the daemon's
samples for nothing. Two public hooks avoid it without patching pymodbus:
the reply classes registered with a decoder (``DecodePDU.register``, what
``client.register`` does) replace the built-in ones, and one decoder holding
them is shared by every client of the daemon (a decoder has no per-connection
state), instead of one table per client.

For Modbus TCP the request frame is the transaction id followed by bytes that
never change for a planned read (protocol id, length, unit, function code,
address, count); ``frame_tail`` builds those once per planned read, so a poll
writes ``tid + tail`` to the transport without pymodbus' frame building.

The reply side has a fast path too (``link.TcpLink``): a whole, well-formed
FC03/FC04 reply to exactly the request in flight, arriving in one piece,
completes the request's future directly (``InFlight.registers`` for a
scheduled poll); anything else (an exception reply, another transaction id or
unit, a short, long, split or garbled frame, a reply nobody waits for) takes
pymodbus' own receive path byte for byte, so every fault is seen and
classified exactly as before.
"""

from __future__ import annotations

import struct
from functools import cache
from typing import Any, Protocol

from pymodbus.exceptions import ModbusIOException
from pymodbus.pdu import DecodePDU, ModbusPDU
from pymodbus.pdu import register_message as pdu_reg


@cache
def registers_struct(byte_count: int) -> struct.Struct:
    return struct.Struct(f">{byte_count // 2}H")


def _decode_registers(pdu: ModbusPDU, data: bytes) -> None:
    """``data`` is the PDU after the function code: byte count, then the registers."""
    byte_count = data[0]
    if byte_count >= len(data) or byte_count & 1:
        raise ModbusIOException(
            f"byte_count {byte_count} > length of packet {len(data)} or odd",
            function_code=pdu.function_code,
        )
    pdu.registers = registers_struct(byte_count).unpack_from(data, 1)
    pdu.count = byte_count // 2


class HoldingRegistersReply(pdu_reg.ReadHoldingRegistersResponse):
    """FC03 reply: registers unpacked in one call, a short text for the debug log."""

    def decode(self, data: bytes) -> None:
        _decode_registers(self, data)

    def __str__(self) -> str:
        return type(self).__name__  # the registers are in pymodbus' frame dump at debug level


class InputRegistersReply(pdu_reg.ReadInputRegistersResponse):
    """FC04 reply: as ``HoldingRegistersReply``."""

    def decode(self, data: bytes) -> None:
        _decode_registers(self, data)

    def __str__(self) -> str:
        return type(self).__name__  # the registers are in pymodbus' frame dump at debug level


@cache
def shared_decoder() -> DecodePDU:
    """The client-side decoder every bus installs on its framer (stateless, so shared)."""
    decoder = DecodePDU(False)
    decoder.register(HoldingRegistersReply)
    decoder.register(InputRegistersReply)
    return decoder


def frame_tail(pdu: ModbusPDU) -> bytes:
    """A Modbus TCP request frame without its leading transaction id (2 bytes)."""
    payload = pdu.function_code.to_bytes(1, "big") + pdu.encode()
    return b"\x00\x00" + (len(payload) + 1).to_bytes(2, "big") + bytes((pdu.dev_id,)) + payload


REPLIES: dict[int, type[ModbusPDU]] = {3: HoldingRegistersReply, 4: InputRegistersReply}


class Attempt(Protocol):
    """What an ``InFlight`` reports to: the poll whose request it carries."""

    def replied(self, attempt: InFlight, function_code: int,
                registers: tuple[int, ...]) -> None: ...

    def ended(self, attempt: InFlight) -> None: ...


class InFlight:
    """A scheduled poll's request in flight, in place of pymodbus' response future.

    pymodbus' client code only asks the response future ``done()`` and calls
    ``set_result(pdu)``, and the tick clock only ``done()`` and
    ``set_exception(timeout)``; this object answers those, and reports to its
    owner at once, in the callback that decided it, instead of waking a task.
    A whole, good register reply comes from ``TcpLink`` as the registers
    alone (``registers``: no PDU object); every other outcome (a reply pymodbus
    decoded, an expiry) is kept as ``result()`` gives it, for the poll's
    coroutine path to classify exactly as a reply it awaited itself.
    """

    __slots__ = ("_exception", "_finished", "_pdu", "ctx", "owner")

    def __init__(self, owner: Attempt, ctx: Any) -> None:
        self.owner = owner
        #: the connection the request went out on: a ``TcpLink`` or a pymodbus client's
        #: transaction manager
        self.ctx = ctx
        self._finished = False
        self._pdu: ModbusPDU | None = None
        self._exception: BaseException | None = None

    def done(self) -> bool:
        return self._finished

    def registers(self, function_code: int, registers: tuple[int, ...]) -> None:
        self._finished = True
        self.owner.replied(self, function_code, registers)

    def set_result(self, pdu: ModbusPDU) -> None:
        if not self._finished:
            self._finished, self._pdu = True, pdu
            self.owner.ended(self)

    def set_exception(self, exception: BaseException) -> None:
        if not self._finished:
            self._finished, self._exception = True, exception
            self.owner.ended(self)

    def refuse(self, function_code: int, registers: tuple[int, ...], dev_id: int) -> None:
        """A register reply that is not the read asked for: ended with the PDU
        ``TcpLink`` would have made of it, for ``Bus.execute`` to judge (its
        transaction id is the request's: ``TcpLink`` passes no other)."""
        pdu = REPLIES[function_code]()
        pdu.registers = registers
        pdu.count = len(registers)
        pdu.dev_id = dev_id
        pdu.transaction_id = self.ctx.request_transaction_id
        self._pdu = pdu
        self.owner.ended(self)

    def result(self) -> ModbusPDU:
        """The reply, or the exception that ended the wait (as ``await future`` would)."""
        if self._exception is not None:
            raise self._exception
        assert self._pdu is not None
        return self._pdu


class Idle:
    """No request in flight: pymodbus' response future between requests, one for all.

    pymodbus makes an ``asyncio.Future`` per client only to have something there
    before the first request (~1.3 kB each, 2.6 MB at 2,000 connections); the
    bus puts its own future (or an ``InFlight``) there for every request. A
    reply arriving while this one is in place is what pymodbus calls a reply
    "without a corresponding request", as with a future already done.
    """

    __slots__ = ()

    def done(self) -> bool:
        return True

    def set_result(self, pdu: ModbusPDU) -> None:  # never called: done() is True
        del pdu


IDLE = Idle()
