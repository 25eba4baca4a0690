"""Communication faults a simulated device can show on the wire.

Applied to the reply bytes of one unit id just before they are sent, so that
the client sees exactly what a misbehaving device or gateway would send:
nothing, something late, noise, half a frame, another unit's id, another
transaction's id. Exception replies are produced by the register map instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

MODES = ("no_response", "late", "garbage", "short", "wrong_unit", "out_of_step", "exception")


@dataclass
class CommFault:
    mode: str
    delay: float = 0.0  # "late": seconds after which the reply is sent
    code: int = 4  # "exception": Modbus exception code (4 = device failure)
    until: float | None = None  # simulated time the fault ends; None: until cleared

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown comm fault {self.mode!r} (known: {', '.join(MODES)})")


def crc16(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def lrc(data: bytes) -> int:
    return (-sum(data)) & 0xFF


def reply_unit(framer: str, packet: bytes) -> int | None:
    try:
        if framer == "socket":
            return packet[6] if len(packet) > 6 else None
        if framer == "rtu":
            return packet[0] if packet else None
        return int(packet[1:3], 16) if packet[:1] == b":" else None
    except (IndexError, ValueError):
        return None


def with_unit(framer: str, packet: bytes, unit: int) -> bytes:
    """The same reply claiming to come from ``unit`` (checksums fixed)."""
    if framer == "socket":
        return packet[:6] + bytes([unit]) + packet[7:]
    if framer == "rtu":
        body = bytes([unit]) + packet[1:-2]
        return body + crc16(body).to_bytes(2, "little")
    payload = bytes.fromhex(packet[1:-4].decode())
    payload = bytes([unit]) + payload[1:]
    return b":" + (payload.hex() + f"{lrc(payload):02x}").upper().encode() + b"\r\n"


def mangle(framer: str, fault: CommFault, packet: bytes, unit: int) -> bytes:
    """The reply bytes as the faulty device sends them."""
    if fault.mode == "garbage":
        return os.urandom(max(len(packet), 9))
    if fault.mode == "short":
        return packet[: max(1, len(packet) // 2)]
    if fault.mode == "wrong_unit":
        return with_unit(framer, packet, (unit % 247) + 1)
    if fault.mode == "out_of_step" and framer == "socket":
        tid = ((packet[0] << 8 | packet[1]) + 1000) & 0xFFFF
        return tid.to_bytes(2, "big") + packet[2:]
    return packet
