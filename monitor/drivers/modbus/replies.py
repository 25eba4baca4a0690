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
"""

from __future__ import annotations

import struct
from functools import cache

from pymodbus.exceptions import ModbusIOException
from pymodbus.pdu import DecodePDU, ModbusPDU
from pymodbus.pdu import register_message as pdu_reg


@cache
def _registers(byte_count: int) -> struct.Struct:
    return struct.Struct(f">{byte_count // 2}H")


def _decode_registers(pdu: ModbusPDU, data: bytes) -> None:
    """``data`` is the PDU after the function code: byte count, then the registers."""
    byte_count = data[0]
    if byte_count >= len(data) or byte_count & 1:
        raise ModbusIOException(
            f"byte_count {byte_count} > length of packet {len(data)} or odd",
            function_code=pdu.function_code,
        )
    pdu.registers = _registers(byte_count).unpack_from(data, 1)
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
