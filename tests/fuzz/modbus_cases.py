"""Random and mutated Modbus TCP replies, served by a raw TCP server to the real driver.

A case is a script: what the "device" answers to each request in turn (a
correct reply, random bytes, a correct reply with bytes flipped, cut, grown
or its header fields changed, an exception code, silence, a closed socket, a
reply split in two writes, two replies for one request). After the script
the device answers correctly for good. The driver (``monitor.drivers.modbus``
built from a real config, running its own ``run()``) must then: still be
running (no exception escaped), have recovered (a poll of only good readings),
have given every bad reading a quality other than good and a detail saying
why, have counted every failed poll in ``DeviceStatus.errors``, and never
emitted a "good" value that is not a finite number. Shared by tests/fuzz and
bench.fuzz_long.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import struct
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from hypothesis import strategies as st

from monitor.config import load_config
from monitor.model import Quality, Reading
from monitor.runtime import build_drivers

TIMEOUT = 0.15
REGISTERS = 10
_MBAP = struct.Struct(">HHHB")

PROFILE = {
    "kind": "generic", "family": "generic", "source": "generic: fuzz profile",
    "channels": [
        {"name": "u16", "quantity": "temperature", "unit": "degC", "address": 0, "type": "u16",
         "scale": 0.1, "range": [0, 100]},
        {"name": "s16", "quantity": "differential_pressure", "unit": "Pa", "address": 1,
         "type": "s16", "scale": 0.1, "nan_values": [32767]},
        {"name": "u32", "quantity": "particles_0_5um", "unit": "particles/m3", "address": 2,
         "type": "u32"},
        {"name": "f32", "quantity": "relative_humidity", "unit": "%RH", "address": 4,
         "type": "f32", "byte_order": "CDAB", "range": [0, 100]},
        {"name": "f32be", "quantity": "co2", "unit": "%", "address": 6, "type": "f32"},
        {"name": "door", "quantity": "door", "unit": "", "address": 8, "type": "u16", "bit": 3},
        {"name": "raw", "quantity": "status", "unit": "", "address": 9, "type": "u16"},
    ],
}


def write_site(tmp: Path, port: int) -> Path:
    import json

    config = {
        "site": {"id": "fuzz"}, "data_dir": str(tmp / "data"),
        "profiles": {"fuzz": PROFILE},
        "connections": [{"name": "gw", "driver": "modbus_tcp", "host": "127.0.0.1",
                         "port": port, "timeout": f"{TIMEOUT * 1000:.0f}ms", "retries": 0,
                         "backoff_max": "50ms", "start_jitter": "0s"}],
        "devices": [{"name": "dev", "connection": "gw", "location": "loc", "profile": "fuzz",
                     "unit_id": 7, "poll_interval": "50ms"}],
        "rooms": [{"name": "room", "grade": "C", "locations": [{"name": "loc"}]}],
        "http": {"enabled": False},
    }
    path = tmp / "site.yaml"
    path.write_text(json.dumps(config))
    return path


# -- what the device answers ----------------------------------------------------------------
_mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 300), st.integers(0, 7)),
    st.tuples(st.just("cut"), st.integers(0, 40)),
    st.tuples(st.just("grow"), st.binary(min_size=1, max_size=30)),
    st.tuples(st.just("tid"), st.integers(0, 0xFFFF)),
    st.tuples(st.just("pid"), st.integers(0, 0xFFFF)),
    st.tuples(st.just("len"), st.integers(0, 0xFFFF)),
    st.tuples(st.just("unit"), st.integers(0, 255)),
    st.tuples(st.just("fc"), st.integers(0, 255)),
    st.tuples(st.just("bytecount"), st.integers(0, 255)),
)
reply = st.one_of(
    st.just(("valid",)),
    st.tuples(st.just("values"), st.lists(st.integers(0, 0xFFFF), min_size=REGISTERS,
                                          max_size=REGISTERS)),
    st.tuples(st.just("bytes"), st.binary(max_size=300)),
    st.tuples(st.just("mutate"), st.lists(_mutation, min_size=1, max_size=3)),
    st.tuples(st.just("exception"), st.integers(0, 255)),
    st.just(("silent",)),
    st.just(("close",)),
    st.just(("split",)),
    st.just(("double",)),
)
scripts = st.lists(reply, min_size=1, max_size=4)


def valid_reply(request: bytes, values: Sequence[int] | None = None) -> bytes:
    tid, pid, _, unit = _MBAP.unpack_from(request)
    func = request[7]
    _, count = struct.unpack_from(">HH", request, 8)
    regs = list(values or [500 + i for i in range(count)])[:count]
    regs += [0] * (count - len(regs))
    data = struct.pack(f">{count}H", *regs)
    pdu = bytes([func, len(data)]) + data
    return _MBAP.pack(tid, pid, len(pdu) + 1, unit) + pdu


def mutate(frame: bytes, ops: Sequence[tuple[Any, ...]]) -> bytes:
    data = bytearray(frame)
    for op in ops:
        kind = op[0]
        if kind == "flip" and data:
            data[op[1] % len(data)] ^= 1 << op[2]
        elif kind == "cut":
            del data[max(0, len(data) - op[1]):]
        elif kind == "grow":
            data += op[1]
        elif kind in ("tid", "pid", "len") and len(data) >= 6:
            at = {"tid": 0, "pid": 2, "len": 4}[kind]
            struct.pack_into(">H", data, at, op[1])
        elif kind == "unit" and len(data) >= 7:
            data[6] = op[1]
        elif kind == "fc" and len(data) >= 8:
            data[7] = op[1]
        elif kind == "bytecount" and len(data) >= 9:
            data[8] = op[1]
    return bytes(data)


@dataclass
class FuzzDevice(asyncio.Protocol):
    """The raw server side: answers requests following ``script``, then correctly."""

    script: list[tuple[Any, ...]]
    requests: int = 0
    good_after_script: int = 0
    buffer: bytes = b""
    transport: asyncio.Transport | None = None
    pending: list[asyncio.TimerHandle] = field(default_factory=list)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: narrow for the type only
        transport = cast(asyncio.Transport, transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 12:
            length = struct.unpack_from(">H", self.buffer, 4)[0]
            frame, self.buffer = self.buffer[: 6 + length], self.buffer[6 + length :]
            self.answer(frame)

    def answer(self, request: bytes) -> None:
        index = self.requests
        self.requests += 1
        step = self.script[index] if index < len(self.script) else ("valid",)
        if index >= len(self.script):
            self.good_after_script += 1
        transport = self.transport
        assert transport is not None
        kind = step[0]
        if kind == "valid":
            transport.write(valid_reply(request))
        elif kind == "values":
            transport.write(valid_reply(request, step[1]))
        elif kind == "bytes":
            transport.write(step[1])
        elif kind == "mutate":
            transport.write(mutate(valid_reply(request), step[1]))
        elif kind == "exception":
            tid, pid, _, unit = _MBAP.unpack_from(request)
            pdu = bytes([request[7] | 0x80, step[1]])
            transport.write(_MBAP.pack(tid, pid, 3, unit) + pdu)
        elif kind == "close":
            transport.abort()
        elif kind == "split":
            frame = valid_reply(request)
            transport.write(frame[:5])
            loop = asyncio.get_running_loop()
            self.pending.append(loop.call_later(TIMEOUT / 4, _write, transport, frame[5:]))
        elif kind == "double":
            transport.write(valid_reply(request) + valid_reply(request))
        # "silent": nothing


def _write(transport: asyncio.Transport, data: bytes) -> None:
    if not transport.is_closing():
        transport.write(data)


@dataclass
class Outcome:
    batches: list[list[Reading]]
    errors: dict[str, int]
    failed_polls: int
    recovered: bool


async def run_script(script: list[tuple[Any, ...]], deadline: float = 8.0) -> Outcome:
    """Serve ``script`` to a real Modbus driver and check what it made of it."""
    loop = asyncio.get_running_loop()
    devices: list[FuzzDevice] = []

    def factory() -> FuzzDevice:
        # one script for the whole case, whichever connection the driver opens
        dev = devices[0] if devices else FuzzDevice(list(script))
        if not devices:
            devices.append(dev)
        return _Conn(dev)

    server = await loop.create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    batches: list[list[Reading]] = []
    with tempfile.TemporaryDirectory(prefix="fuzz-modbus-") as tmp:
        loaded = load_config(write_site(Path(tmp), port))
        (driver,) = build_drivers(loaded, lambda readings: batches.append(list(readings)))
        task = asyncio.create_task(driver.run())
        try:
            end = loop.time() + deadline
            while loop.time() < end and not task.done():
                dev = devices[0] if devices else None
                if dev is not None and dev.good_after_script >= 2 and batches and all(
                        r.quality is Quality.GOOD for r in batches[-1]):
                    break
                await asyncio.sleep(0.01)
            if task.done():
                task.result()  # re-raises what escaped the driver
                raise AssertionError("the driver's run() returned while the device was there")
            status = driver.status["dev"]
            recovered = bool(batches) and all(r.quality is Quality.GOOD for r in batches[-1])
            return Outcome(batches, dict(status.errors), _failed(batches), recovered)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            server.close()
            for dev in devices:
                for handle in dev.pending:
                    handle.cancel()
                if dev.transport is not None:
                    dev.transport.abort()
            await server.wait_closed()


class _Conn(asyncio.Protocol):
    """Routes a connection's bytes to the case's device (a reconnect keeps the script)."""

    def __init__(self, device: FuzzDevice) -> None:
        self.device = device

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.device.buffer = b""
        self.device.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.device.data_received(data)


def _failed(batches: list[list[Reading]]) -> int:
    return sum(1 for b in batches if any(r.quality is Quality.COMM_ERROR for r in b))


def check_outcome(outcome: Outcome) -> str:
    """The properties every case must have; returns how the case went, for counting."""
    assert outcome.recovered, "the driver did not get back to good readings"
    for batch in outcome.batches:
        for r in batch:
            if r.quality is Quality.GOOD:
                assert r.value is not None
                assert math.isfinite(r.value), r
            else:
                assert r.detail, f"a {r.quality} reading without a reason: {r}"
    comm_errors = sum(n for kind, n in outcome.errors.items()
                      if kind not in {q.value for q in Quality})
    assert comm_errors >= outcome.failed_polls, (outcome.errors, outcome.failed_polls)
    return "errors counted" if outcome.failed_polls else "no error"
