"""Modbus TCP replies taken straight off the socket (``link.TcpLink``).

A scripted server on a real loopback socket answers each request with chosen
bytes: a whole, good FC03/FC04 reply must come out as pymodbus' own decoding
would make it, and everything else (split frames, another transaction id or
unit, exception replies, odd or short byte counts, trailing bytes) must take
pymodbus' path and be classified exactly as the fault tests expect.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import uvloop
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymodbus.pdu import DecodePDU

from monitor.drivers.modbus.bus import Bus, BusError, prebuilt_request, registers_of
from monitor.drivers.modbus.link import TcpLink
from monitor.drivers.modbus.replies import frame_tail
from tests.fixtures.modbus_sim import tcp_connection

Script = Callable[[bytes], list[bytes]]  # request frame -> the writes that answer it


def mbap(tid: int, unit: int, pdu: bytes, length: int | None = None) -> bytes:
    size = len(pdu) + 1 if length is None else length
    return tid.to_bytes(2, "big") + b"\x00\x00" + size.to_bytes(2, "big") + bytes((unit,)) + pdu


def registers_pdu(fc: int, values: list[int]) -> bytes:
    return bytes((fc, 2 * len(values))) + b"".join(v.to_bytes(2, "big") for v in values)


@asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[int]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await reader.readexactly(12)
                for part in script(request):
                    writer.write(part)
                    await writer.drain()
                    await asyncio.sleep(0.01)  # separate segments: a split frame stays split
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def ask(port: int, fc: int = 3, *, fast: bool = True, timeout: str = "200ms") -> object:
    """One 3-register read of unit 7; ``fast=False``: pymodbus' client, as before."""
    bus = Bus(tcp_connection(port, timeout=timeout))
    bus._fast_replies = fast
    pdu = prebuilt_request(fc, 0, 3, 7)
    try:
        await bus.ensure_open()
        assert bus.client is not None
        protocol = bus.client.ctx.transport.get_protocol()
        assert isinstance(protocol, TcpLink) is fast
        reply = await bus.execute(pdu, bus.config.timeout, 0, frame_tail(pdu))
        registers_of(reply, fc, 3)  # as a poll checks it
        return reply
    finally:
        bus.close()


@pytest.mark.parametrize("fc", [3, 4])
async def test_whole_reply_is_what_pymodbus_decodes(fc: int) -> None:
    values = [0, 1234, 0xFFFF]
    frame = registers_pdu(fc, values)
    async with scripted(lambda req: [mbap(int.from_bytes(req[:2], "big"), 7, frame)]) as port:
        reply = await ask(port, fc)
    reference = DecodePDU(False).decode(frame)
    assert reference is not None
    assert type(reply).__mro__[1] is type(reference)  # the fast class derives from pymodbus'
    assert list(reply.registers) == list(reference.registers) == values  # type: ignore[attr-defined]
    assert (reply.function_code, reply.count, reply.dev_id) == (fc, 3, 7)  # type: ignore[attr-defined]
    assert reply.transaction_id >= 1  # type: ignore[attr-defined]


async def test_connected_is_the_transport_the_bus_looks_at() -> None:
    """``Bus.execute`` asks ``ctx.transport`` instead of pymodbus' ``client.connected``."""
    async with scripted(lambda req: []) as port:
        bus = Bus(tcp_connection(port))
        await bus.ensure_open()
        client = bus.client
        assert client is not None
        assert client.connected is True is bool(client.ctx.transport)
        client.close()
        assert client.connected is False is bool(client.ctx.transport)


async def test_split_reply_is_joined_by_pymodbus() -> None:
    def script(req: bytes) -> list[bytes]:
        whole = mbap(int.from_bytes(req[:2], "big"), 7, registers_pdu(3, [1, 2, 3]))
        return [whole[:5], whole[5:10], whole[10:]]

    async with scripted(script) as port:
        reply = await ask(port)
    assert list(reply.registers) == [1, 2, 3]  # type: ignore[attr-defined]


def _tid(req: bytes) -> int:
    return int.from_bytes(req[:2], "big")


@pytest.mark.parametrize(("script", "kind"), [
    (lambda r: [mbap(_tid(r) + 1, 7, registers_pdu(3, [1, 2, 3]))], "out_of_step"),
    (lambda r: [mbap(_tid(r), 9, registers_pdu(3, [1, 2, 3]))], "wrong_unit"),
    (lambda r: [mbap(_tid(r), 7, b"\x83\x02")], "exception"),
    (lambda r: [mbap(_tid(r), 7, b"\x03\x05\x00\x01\x00\x02\x00")], "disconnected"),  # odd
    (lambda r: [mbap(_tid(r), 7, registers_pdu(3, [1, 2]))], "garbled"),  # 2 registers of 3
    (lambda r: [mbap(_tid(r), 7, registers_pdu(3, [1, 2, 3]))[:-2]], "garbled"),  # short
    (lambda r: [b"\x01\x02\x00\x00\x00\x09\x07\x03\x06" + bytes(6)], "out_of_step"),
    (lambda r: [bytes(range(40, 55))], "garbled"),
])
async def test_faults_take_pymodbus_path(script: Script, kind: str) -> None:
    async with scripted(script) as port:
        for fast in (True, False):  # the same outcome with and without the fast path
            with pytest.raises(BusError) as caught:
                await ask(port, fast=fast)
            assert caught.value.kind == kind


async def test_trailing_bytes_after_a_good_reply_are_left_to_pymodbus() -> None:
    def script(req: bytes) -> list[bytes]:
        return [mbap(_tid(req), 7, registers_pdu(3, [4, 5, 6])) + b"\x00"]

    async with scripted(script) as port:
        reply = await ask(port)
    assert list(reply.registers) == [4, 5, 6]  # type: ignore[attr-defined]


# -- any reply: the link judges it as pymodbus' client does, on the daemon's loop (uvloop) --
_REPLY = st.tuples(
    st.sampled_from([0, 0, 0, 1]),  # transaction id: the request's, or the next
    st.sampled_from([7, 7, 7, 9]),  # unit: the one asked, or another
    st.one_of(  # the PDU
        st.builds(registers_pdu, st.sampled_from([3, 4]),
                  st.lists(st.integers(0, 0xFFFF), min_size=0, max_size=5)),
        st.sampled_from([b"\x83\x02", b"\x84\x0b", b"\x03", b"\x03\x05\x00\x01\x00\x02\x00"]),
        st.binary(min_size=0, max_size=12),
    ),
    st.sampled_from([0, 0, 0, -1, 1, 3]),  # MBAP length: right, or off
    st.sampled_from([0, 0, 0, 2, 5]),  # bytes cut off the end
    st.sampled_from([b"", b"", b"", b"\x00", bytes(9)]),  # bytes after it
    st.sampled_from([(), (), (4,), (7, 9)]),  # split into segments at these offsets
)


def _writes(req: bytes, reply: tuple[int, int, bytes, int, int, bytes, tuple[int, ...]]
            ) -> list[bytes]:
    tid_step, unit, pdu, length_off, cut, trailing, splits = reply
    frame = mbap(_tid(req) + tid_step, unit, pdu, max(0, len(pdu) + 1 + length_off))
    frame = (frame[:-cut] if cut else frame) + trailing
    bounds = [0, *(s for s in splits if s < len(frame)), len(frame)]
    return [frame[a:b] for a, b in itertools.pairwise(bounds) if b > a]


async def _outcome(port: int, fc: int, fast: bool) -> tuple[object, ...]:
    try:
        reply = await ask(port, fc, fast=fast, timeout="100ms")
    except BusError as err:
        return ("error", err.kind, err.code)
    return ("reply", type(reply).__name__, tuple(reply.registers),  # type: ignore[attr-defined]
            reply.dev_id, reply.function_code)  # type: ignore[attr-defined]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reply=_REPLY, fc=st.sampled_from([3, 4]))
def test_link_judges_any_reply_as_pymodbus_client(
    reply: tuple[int, int, bytes, int, int, bytes, tuple[int, ...]], fc: int,
) -> None:
    async def both() -> tuple[tuple[object, ...], tuple[object, ...]]:
        async with scripted(lambda req: _writes(req, reply)) as port:
            return await _outcome(port, fc, True), await _outcome(port, fc, False)

    fast, pymodbus = uvloop.run(both())
    assert fast == pymodbus


async def test_only_plain_modbus_tcp_gets_a_link() -> None:
    """RTU over TCP, and Modbus TCP while pymodbus logs at debug level, keep pymodbus' client."""
    assert isinstance(Bus(tcp_connection(5020))._make_client(), TcpLink)
    assert not isinstance(
        Bus(tcp_connection(5020, driver="modbus_rtu_over_tcp"))._make_client(), TcpLink)
    root, pymodbus_log = logging.getLogger(), logging.getLogger("pymodbus")
    levels = root.level, pymodbus_log.level
    root.setLevel(logging.DEBUG)  # the daemon at debug level: pymodbus is left to log
    pymodbus_log.setLevel(logging.NOTSET)
    try:
        bus = Bus(tcp_connection(5020))
    finally:
        root.setLevel(levels[0])
        pymodbus_log.setLevel(levels[1])
    assert not isinstance(bus._make_client(), TcpLink)


def test_a_tcp_site_never_imports_pymodbus_client() -> None:
    """pymodbus' client modules (and pyserial) are loaded only for a bus that needs them."""
    code = (
        "import asyncio, sys\n"
        "from monitor.config.devices import ModbusTcpConnection\n"
        "from monitor.drivers.modbus.bus import Bus\n"
        "def bus(driver):\n"
        "    return Bus(ModbusTcpConnection.model_validate(\n"
        "        {'name': 'bus', 'driver': driver, 'host': '127.0.0.1', 'port': 5020}))\n"
        "async def main():\n"
        "    bus('modbus_tcp')._make_client()\n"
        "    assert not [m for m in sys.modules if m.startswith(('pymodbus.client', 'serial'))]\n"
        "    bus('modbus_rtu_over_tcp')._make_client()\n"
        "    assert 'pymodbus.client' in sys.modules\n"
        "asyncio.run(main())\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


async def test_connect_failures_are_classified_alike() -> None:
    """A refused connection, and one nobody accepts within the timeout, are ``connect``
    errors for the link as for pymodbus' client, and leave the bus without a client."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        refused = probe.getsockname()[1]  # closed again: nothing listens there
    with socket.socket() as full:  # a listener whose accept queue is full: SYNs are dropped
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(full.getsockname())
            fillers.append(filler)
        try:
            for port in (refused, full.getsockname()[1]):
                for fast in (True, False):
                    bus = Bus(tcp_connection(port, timeout="200ms"))
                    bus._fast_replies = fast
                    started = asyncio.get_running_loop().time()
                    with pytest.raises(BusError) as caught:
                        await bus.ensure_open()
                    assert caught.value.kind == "connect"
                    assert bus.client is None
                    assert not bus.connected
                    assert asyncio.get_running_loop().time() - started < 1.0
        finally:
            for filler in fillers:
                filler.close()
