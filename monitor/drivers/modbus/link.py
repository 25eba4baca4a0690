"""A plain Modbus TCP connection: the socket's protocol, without a pymodbus client.

With a connection per device (a Modbus TCP device is its own server), each
``AsyncModbusTcpClient`` cost ~3.2 kB that the driver never used: two
``CommParams`` (one a ``copy.copy``), a ``TransactionManager`` whose instance
dict outgrew key sharing (~1.6 kB alone), its ``asyncio.Lock``, a framer and a
decoder (replaced by the shared one), bound methods and a ``partial`` for
reconnects the driver does not let pymodbus make. The bus already wrote its
planned read frames itself and took good FC03/FC04 replies off the socket;
``TcpLink`` is what remains of the client for that: the transport, the
request in flight and the bytes received, ~0.2 kB.

Every byte is still judged as pymodbus judges it. A whole, good register
reply to the request in flight completes it directly (as ``TcpReplies`` did);
anything else goes through what pymodbus' ``ModbusProtocol.datagram_received``
and ``TransactionManager.callback_data`` do for a TCP client, with pymodbus'
own framer (``FramerSocket``, stateless, one for all) and the shared decoder:
the receive buffer and its 264-byte limit, a frame of another unit or
transaction skipped, an undecodable PDU raised out of ``data_received`` (the
transport then closes, as before), the bytes the bus' trace hook saw.
Connecting is ``loop.create_connection`` under ``asyncio.wait_for`` with the
connection's timeout, failing as pymodbus' ``connect`` does (False on a
timeout or ``OSError``); a lost connection is closed and forgotten, never
reopened here (the bus reopens it at the next request).

Only for Modbus TCP with pymodbus' debug logging off: with it on, and for
serial and RTU-over-TCP buses, the bus keeps pymodbus' client (see ``Bus``).
"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any, Protocol

from pymodbus.framer import FramerSocket
from pymodbus.pdu import ModbusPDU

from .replies import IDLE, REPLIES, InFlight, registers_struct, shared_decoder

#: pymodbus' receive buffer limit for a TCP client (``FramerBase.MAX_SIZE``): a buffer
#: that grows past it is dropped whole.
MAX_BUFFER = FramerSocket.MAX_SIZE


@cache
def shared_framer() -> FramerSocket:
    """pymodbus' MBAP framer: it holds nothing but its decoder, so one serves every link."""
    return FramerSocket(shared_decoder())


class Owner(Protocol):
    """The bus a link carries requests for (``Bus``): it judges what came back."""

    #: every byte received since the last request was sent, as pymodbus' trace hook sees it
    rx: bytes

    def trace(self, sending: bool, data: bytes) -> bytes:
        """pymodbus' ``trace_packet`` hook (``Bus.trace``)."""


class TcpLink(asyncio.Protocol):
    """One Modbus TCP connection: ``connect``, ``close``, ``pdu_send`` and the reply matching.

    Answers what ``Bus`` asks of a pymodbus client's transaction manager
    (``transport``, ``recv_buffer``, ``response_future``, ``request_dev_id``,
    ``request_transaction_id``, ``getNextTID``, ``pdu_send``) under the same names,
    so that the bus treats both alike.
    """

    __slots__ = ("closing", "next_tid", "owner", "recv_buffer", "request_dev_id",
                 "request_transaction_id", "response_future", "transport")

    def __init__(self, owner: Owner) -> None:
        #: what pymodbus' client passed to the bus' trace hook is set on ``owner.rx`` here:
        #: no bound method kept per link, no call per reply
        self.owner = owner
        self.transport: Any = None  # an ``asyncio.Transport`` or uvloop's own
        self.recv_buffer = b""
        self.response_future: Any = IDLE  # an ``asyncio.Future``, ``InFlight`` or ``IDLE``
        self.request_dev_id = 0
        self.request_transaction_id = 0
        self.next_tid = 0
        self.closing = False

    @property
    def connected(self) -> bool:
        return bool(self.transport)

    @property
    def ctx(self) -> TcpLink:
        """What stands for a pymodbus client's transaction manager: the link itself."""
        return self

    async def connect(self, host: str, port: int, timeout: float) -> bool:
        """Open the connection; False when it cannot be opened in ``timeout`` s.

        ``asyncio.timeout`` rather than pymodbus' ``asyncio.wait_for``: the same
        outcome without a task per connect (2,000 connects at a start made asyncio's
        set of all tasks grow for good by ~0.3 MB), and a cancel that lands as the
        connection completes is not swallowed (Python 3.11's ``wait_for`` does).
        """
        self.closing = False
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, _ = await loop.create_connection(self._self, host, port)
        except (TimeoutError, OSError):
            return False
        self.transport = transport
        return bool(self.transport)

    def _self(self) -> TcpLink:
        return self

    def close(self) -> None:
        if self.closing:
            return
        self.closing = True
        self._drop()

    def _drop(self) -> None:
        if self.transport:
            self.transport.close()
            self.transport = None
        self.recv_buffer = b""

    # -- sending (requests other than the bus' prebuilt frames) -------------------------
    def getNextTID(self) -> int:  # noqa: N802  (pymodbus' name: the bus calls either)
        """The next transaction id: 1..65000, from 1 again on each connection."""
        self.next_tid = 1 if self.next_tid >= 65000 else self.next_tid + 1
        return self.next_tid

    def pdu_send(self, pdu: ModbusPDU) -> None:
        """Frame ``pdu`` and write it, as pymodbus' ``TransactionManager.pdu_send``."""
        self.request_dev_id = pdu.dev_id
        self.request_transaction_id = pdu.transaction_id
        packet = shared_framer().buildFrame(pdu)
        packet = self.owner.trace(True, packet)
        if not self.transport:
            return  # pymodbus logs "Cancel send, because not connected!" and sends nothing
        self.recv_buffer = b""
        self.transport.write(packet)

    # -- asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not ``asyncio.Transport``s

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.transport or self.closing:
            return
        self._drop()

    def data_received(self, data: bytes) -> None:
        n = len(data)
        if (
            n >= 9 and not self.recv_buffer
            and n == data[8] + 9 and not data[8] & 1  # byte count fills the frame, even
            and (data[4] << 8 | data[5]) == n - 6 and not data[2] and not data[3]  # MBAP
            and (data[0] << 8 | data[1]) == self.request_transaction_id
            and data[6] == self.request_dev_id
            and (cls := REPLIES.get(data[7])) is not None
            and not (future := self.response_future).done()
        ):
            self.owner.rx = data  # ``trace(False, data)``
            if future.__class__ is InFlight:  # a scheduled poll's request: straight to it
                future.registers(data[7], registers_struct(data[8]).unpack_from(data, 9))
                return
            pdu = cls()
            pdu.registers = registers_struct(data[8]).unpack_from(data, 9)
            pdu.count = data[8] >> 1
            pdu.dev_id = data[6]
            pdu.transaction_id = self.request_transaction_id
            future.set_result(pdu)
            return
        self._received(data)

    def _received(self, data: bytes) -> None:
        """pymodbus' ``datagram_received`` and ``callback_data`` for a TCP client."""
        buffer = self.recv_buffer = self.recv_buffer + data
        if len(buffer) > MAX_BUFFER:
            self.recv_buffer = b""
            return
        self.owner.rx = buffer  # ``trace(False, buffer)``
        used, pdu = shared_framer().handleFrame(
            buffer, self.request_dev_id, self.request_transaction_id)
        if pdu is not None and not self.response_future.done():
            # a reply nobody waits for is dropped (pymodbus logs it, at a level it is quiet at)
            self.response_future.set_result(pdu)
        self.recv_buffer = self.recv_buffer[used:]
