"""A raw MQTT 3.1.1 publisher for load tests: pre-encoded PUBLISH packets, pipelined.

A normal client waits for each PUBACK (or pays for one in Python per message);
measuring the daemon's ingest rate needs a publisher that is not the
bottleneck. This one writes packets in large chunks and only keeps count of
the PUBACKs, with a window so that the broker's queue stays bounded. It is a
test tool, not a general client: no TLS, no reconnect.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass

_CHUNK = 512  # packets per write


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def connect_packet(client_id: str, keepalive: int = 60) -> bytes:
    cid = client_id.encode()
    variable_header = b"\x00\x04MQTT\x04\x02" + struct.pack("!H", keepalive)  # clean session
    body = variable_header + struct.pack("!H", len(cid)) + cid
    return b"\x10" + _remaining_length(len(body)) + body


def publish_packet(topic: bytes, payload: bytes, mid: int, qos: int = 1) -> bytes:
    head = struct.pack("!H", len(topic)) + topic
    if qos:
        head += struct.pack("!H", mid)
    body = head + payload
    return bytes([0x30 | (qos << 1)]) + _remaining_length(len(body)) + body


@dataclass
class FloodResult:
    messages: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


async def flood(
    host: str, port: int, messages: Iterable[tuple[bytes, bytes]], *, qos: int = 1,
    client_id: str = "cm-flood", window: int = 20_000,
) -> FloodResult:
    """Publish every (topic, payload) of ``messages``; returns when the broker acked them all."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(connect_packet(client_id))
    await writer.drain()
    connack = await reader.readexactly(4)
    if connack[0] != 0x20 or connack[3] != 0:
        raise ConnectionError(f"broker refused the connection: {connack!r}")
    sent = 0
    acked = 0
    done = asyncio.Event()
    finished_sending = False

    async def count_acks() -> None:
        nonlocal acked
        pending = b""
        while True:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("broker closed the connection")
            pending += data
            whole = len(pending) // 4  # PUBACK: 0x40 0x02 mid mid
            acked += whole
            pending = pending[whole * 4:]
            if finished_sending and acked >= sent:
                done.set()
                return

    started = time.perf_counter()
    acks = asyncio.create_task(count_acks()) if qos else None
    chunk: list[bytes] = []
    try:
        for topic, payload in messages:
            sent += 1
            chunk.append(publish_packet(topic, payload, (sent - 1) % 65535 + 1, qos))
            if len(chunk) >= _CHUNK:
                writer.write(b"".join(chunk))
                chunk.clear()
                await writer.drain()
                while qos and sent - acked > window:
                    await asyncio.sleep(0.001)
                    if acks is not None and acks.done():
                        acks.result()
        writer.write(b"".join(chunk))
        await writer.drain()
        finished_sending = True
        if acks is not None:
            if acked >= sent:
                acks.cancel()
            else:
                await asyncio.wait_for(done.wait(), 60)
        seconds = time.perf_counter() - started
        writer.write(b"\xe0\x00")  # DISCONNECT
        await writer.drain()
    finally:
        if acks is not None:
            acks.cancel()
        writer.close()
    return FloodResult(sent, seconds)
