"""One physical bus or gateway: one connection, one lock, many unit ids.

A bus carries one request at a time, so every device behind it shares this
object. It opens the connection when needed (with an optional settle delay),
applies each device's own timeout and retries, and turns pymodbus outcomes
into ``BusError``s with a ``kind`` that the per-device counters use:

``timeout`` nothing came back; ``exception`` the device answered with a Modbus
exception code; ``garbled`` bytes came back that are not a valid reply (bad
CRC/LRC, short frame, undecodable PDU, wrong length); ``wrong_unit`` a reply
from another unit id; ``out_of_step`` a TCP reply carrying another request's
transaction id; ``connect`` the port or gateway cannot be opened.

A TCP stream that got out of step or garbled is closed and reopened at the
next request, because what follows in it cannot be trusted; a serial port
that disappeared is reopened when it returns.

A Modbus TCP connection is a ``link.TcpLink`` (the socket's protocol, ~0.2 kB)
instead of a pymodbus client (~3.2 kB); serial and RTU-over-TCP buses, and
Modbus TCP while pymodbus logs at debug level (it logs every frame), keep
pymodbus' client. The bus asks both the same things (``ctx``: the link, or
the client's transaction manager).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerType
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu import bit_message as pdu_bit
from pymodbus.pdu import register_message as pdu_reg

from monitor.config.devices import ModbusSerialConnection, ModbusTcpConnection
from monitor.errors import DeviceTimeout, DriverError

from .buslock import BusLock
from .link import TcpLink
from .replies import IDLE, Attempt, InFlight, shared_decoder
from .schedule import RequestTimeout, TickClock, clock

if TYPE_CHECKING:
    # imported when a bus first needs one (``Bus._make_client``): a site of Modbus TCP
    # devices has only ``TcpLink``s, and pymodbus' client modules (with pyserial) are
    # 16 modules and ~0.6 MB it never uses
    from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient


#: pymodbus' logger: looked up once (``getLogger`` takes the logging lock), not per bus
_PYMODBUS_LOG = logging.getLogger("pymodbus")


def quiet_pymodbus() -> None:
    """pymodbus logs every timeout and stray frame at ERROR; the driver logs each
    device's failure once and its recovery once, with the device's name. Left
    alone when the daemon logs at debug level."""
    if logging.root.getEffectiveLevel() > logging.DEBUG:
        quiet = _PYMODBUS_LOG
        if quiet.level != logging.CRITICAL:  # setLevel clears every logger's cache: once,
            quiet.setLevel(logging.CRITICAL)  # not once per bus (~15 ms at 2,000 devices)

EXCEPTION_NAMES = {
    1: "illegal function", 2: "illegal data address", 3: "illegal data value",
    4: "device failure", 5: "acknowledge", 6: "device busy", 8: "memory parity error",
    10: "gateway path unavailable", 11: "gateway target failed to respond",
}

_REQUESTS: dict[int, Any] = {
    1: pdu_bit.ReadCoilsRequest,
    2: pdu_bit.ReadDiscreteInputsRequest,
    3: pdu_reg.ReadHoldingRegistersRequest,
    4: pdu_reg.ReadInputRegistersRequest,
}


class BusError(DriverError):
    """A request failed; ``kind`` names how (see the module docstring)."""

    def __init__(self, kind: str, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code


class BusTimeout(DeviceTimeout, BusError):
    def __init__(self, message: str) -> None:
        BusError.__init__(self, "timeout", message)


Connection = ModbusTcpConnection | ModbusSerialConnection


class Bus:
    """A connection shared by the devices on one bus or gateway."""

    __slots__ = (  # one per connection: per device at a site of Modbus TCP devices
        "_clock", "_expect_tid", "_fast_replies", "_loop", "_tid", "client", "config",
        "connects", "ctx", "framer", "is_socket", "is_tcp", "lock", "name", "requests", "rx",
    )

    def __init__(self, config: Connection) -> None:
        quiet_pymodbus()
        self.config = config
        self.name = config.name
        self.lock = BusLock()
        self.is_tcp = isinstance(config, ModbusTcpConnection)
        self.framer = (
            FramerType.RTU if config.driver in ("modbus_rtu", "modbus_rtu_over_tcp")
            else FramerType.ASCII if config.driver == "modbus_ascii"
            else FramerType.SOCKET
        )
        self.is_socket = self.framer is FramerType.SOCKET  # bound once: an enum member's class
        # look-up is a descriptor call in Python 3.11, and execute asks on every request
        self.client: AsyncModbusTcpClient | AsyncModbusSerialClient | TcpLink | None = None
        #: what requests go through: the ``TcpLink``, or the pymodbus client's ``ctx``
        self.ctx: Any = None
        #: what came back since the last request was sent (``trace``, or a ``TcpLink``)
        self.rx = b""
        self._expect_tid = 0
        self._tid = 0  # transaction ids of the requests sent as prebuilt frames
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock: TickClock | None = None
        self.connects = 0
        self.requests = 0
        #: Modbus TCP through a ``TcpLink``, unless pymodbus logs at debug level (then every
        #: frame goes through pymodbus' client, which logs it)
        self._fast_replies = not _PYMODBUS_LOG.isEnabledFor(logging.DEBUG)

    # -- connection ---------------------------------------------------------------------
    def _make_client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient | TcpLink:
        cfg = self.config
        client: AsyncModbusTcpClient | AsyncModbusSerialClient
        if self.is_tcp and self.is_socket and self._fast_replies:
            return TcpLink(self)
        from pymodbus.client import (  # see TYPE_CHECKING above
            AsyncModbusSerialClient,
            AsyncModbusTcpClient,
        )

        if isinstance(cfg, ModbusTcpConnection):
            client = AsyncModbusTcpClient(
                cfg.host, port=cfg.port, framer=self.framer, timeout=cfg.timeout, retries=0,
                reconnect_delay=0, name=cfg.name, trace_packet=self.trace,
            )
        else:
            client = AsyncModbusSerialClient(
                cfg.port, framer=self.framer, baudrate=cfg.baudrate, bytesize=cfg.bytesize,
                parity=cfg.parity, stopbits=cfg.stopbits, timeout=cfg.timeout, retries=0,
                reconnect_delay=0, name=cfg.name, trace_packet=self.trace,
            )
        # the driver decides when a connection is beyond repair, not pymodbus' counter
        client.set_max_no_responses(1 << 30)
        client.ctx.framer.decoder = shared_decoder()
        client.ctx.response_future = IDLE  # type: ignore[assignment]  # replies.Idle
        return client

    @property
    def connected(self) -> bool:
        return self.ctx is not None and bool(self.ctx.transport)

    async def ensure_open(self) -> None:
        if self.ctx is not None and self.ctx.transport:
            return
        if self.client is not None:
            self.client.close()
        client = self.client = self._make_client()
        self.ctx = client.ctx
        cfg = self.config
        try:
            if isinstance(client, TcpLink):
                assert isinstance(cfg, ModbusTcpConnection)
                ok = await client.connect(cfg.host, cfg.port, cfg.timeout)
            else:
                ok = await client.connect()
        except (OSError, ModbusException) as err:
            raise BusError("connect", f"cannot open {self._where()}: {err}") from err
        if not ok:
            client.close()
            self.client = self.ctx = None
            raise BusError("connect", f"cannot open {self._where()}")
        self.connects += 1
        if cfg.connect_delay:
            await asyncio.sleep(cfg.connect_delay)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = self.ctx = None

    def _where(self) -> str:
        cfg = self.config
        if isinstance(cfg, ModbusTcpConnection):
            return f"{cfg.host}:{cfg.port}"
        return cfg.port

    # -- requests -----------------------------------------------------------------------
    def trace(self, sending: bool, data: bytes) -> bytes:
        """pymodbus' ``trace_packet`` hook: note what was sent and what came back."""
        if sending:
            self.rx = b""
            if self.framer is FramerType.SOCKET and len(data) >= 2:
                self._expect_tid = (data[0] << 8) | data[1]
        else:
            self.rx = data
        return data

    def _classify_silence(self, unit: int) -> BusError:
        """Why a request got no usable reply, from the bytes that did arrive."""
        rx = self.rx
        if not rx:
            return BusTimeout("no reply")
        if self.framer is FramerType.SOCKET:
            # a plausible MBAP header: protocol id 0 and a length a PDU can have
            if len(rx) >= 7 and rx[2] == 0 and rx[3] == 0 and 2 <= (rx[4] << 8 | rx[5]) <= 254:
                tid = (rx[0] << 8) | rx[1]
                if tid != self._expect_tid:
                    return BusError("out_of_step", f"reply to transaction {tid}, "
                                    f"expected {self._expect_tid}")
                if rx[6] != unit:
                    return BusError("wrong_unit", f"reply from unit {rx[6]}, expected {unit}")
            return BusError("garbled", f"unusable reply ({len(rx)} bytes)")
        if self.framer is FramerType.RTU:
            if rx[0] != unit:
                return BusError("wrong_unit", f"reply from unit {rx[0]}, expected {unit}")
            return BusError("garbled", f"unusable reply ({len(rx)} bytes, bad CRC or short)")
        try:
            other = int(rx[1:3], 16) if rx[:1] == b":" else unit
        except ValueError:
            other = unit
        if other != unit:
            return BusError("wrong_unit", f"reply from unit {other}, expected {unit}")
        return BusError("garbled", f"unusable reply ({len(rx)} bytes, bad LRC or short)")

    async def execute(
        self, request: ModbusPDU, timeout: float, retries: int, tail: bytes | None = None,
        sent: InFlight | None = None,
    ) -> ModbusPDU:
        """Send ``request`` (caller holds ``lock``); retry timeouts; raise ``BusError``.

        ``tail`` is ``request``'s Modbus TCP frame after the transaction id
        (``replies.frame_tail``, built once per planned read): on a Modbus TCP
        bus the frame is then written as ``tid + tail`` straight to the
        transport, with the reply matching set up as ``pdu_send`` would.
        ``sent`` is a first attempt already sent by ``send_planned`` and ended
        other than by a good reply: its outcome is taken as the first attempt's.

        The exchange uses pymodbus' framer and reply matching (``pdu_send``,
        ``callback_data``, or their copies in ``TcpLink``) but not
        ``TransactionManager.execute``:
        that adds a second lock (the bus lock already serialises requests), an
        ``asyncio.wait_for`` with its own timer, waiter future and two callback
        hops per request, and its own retry count. The reply future is the one
        ``callback_data`` completes; its timeout is a list entry on the shared
        ``TickClock``, which expires every request due at a grid tick in one pass.
        """
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._clock = loop, clock()
        ticker = self._clock
        assert ticker is not None
        if not self.is_socket:
            tail = None
        attempt = 0
        while True:
            if sent is not None:
                ctx = sent.ctx
            else:
                ctx = self.ctx
                # ``client.connected`` is ``bool(client.ctx.transport)``, without its two calls
                if ctx is None or not ctx.transport:
                    await self.ensure_open()
                    ctx = self.ctx
                    assert ctx is not None
            try:
                if sent is not None:
                    response = sent.result()
                    sent = None
                else:
                    reply: asyncio.Future[ModbusPDU] = loop.create_future()
                    self._send(ctx, request, tail, reply)
                    ticker.expire(reply, timeout)
                    response = await reply
            except RequestTimeout:
                failure = self._classify_silence(request.dev_id)
                if not ctx.transport:  # ``client.connected``
                    failure = BusError("disconnected", "connection lost")
            except asyncio.CancelledError:
                raise
            except Exception as err:  # pymodbus may raise anything out of a broken frame
                self.close()
                raise BusError("garbled", f"unusable reply: {err!r}") from err
            else:
                if response.function_code > 0x80:  # response.isError(), without the call
                    code = getattr(response, "exception_code", 0)
                    raise BusError(
                        "exception",
                        f"exception {code} ({EXCEPTION_NAMES.get(code, 'unknown')})",
                        code,
                    )
                if request.dev_id and response.dev_id != request.dev_id:
                    raise BusError("wrong_unit", f"reply from unit {response.dev_id}, "
                                   f"expected {request.dev_id}")
                return response
            if failure.kind in ("out_of_step", "garbled") and self.is_tcp:
                self.close()  # the stream cannot be trusted any more
            elif failure.kind == "disconnected":
                self.close()
            if failure.kind not in ("timeout", "disconnected") or attempt >= retries:
                raise failure
            attempt += 1

    def _send(self, ctx: Any, request: ModbusPDU, tail: bytes | None,
              reply: asyncio.Future[ModbusPDU] | InFlight) -> None:
        """Write one attempt of ``request`` on ``ctx`` (``self.ctx`` when it was sent);
        ``reply`` is what its outcome completes."""
        self.requests += 1
        ctx.recv_buffer = b""
        ctx.response_future = reply
        if tail is None:
            request.transaction_id = ctx.getNextTID()
            ctx.pdu_send(request)
            return
        tid = self._tid = self._tid + 1 if self._tid < 65000 else 1
        request.transaction_id = ctx.request_transaction_id = self._expect_tid = tid
        ctx.request_dev_id = request.dev_id
        self.rx = b""
        transport = ctx.transport
        if transport is None:
            raise RequestTimeout  # not connected after all: classified as silence
        transport.write(tid.to_bytes(2, "big") + tail)

    def can_send_planned(self) -> bool:
        """Whether ``send_planned`` can go out now: an open ``TcpLink`` (else the poll takes
        ``execute``, connecting if need be)."""
        ctx = self.ctx
        return ctx.__class__ is TcpLink and bool(ctx.transport)

    def send_planned(self, request: ModbusPDU, tail: bytes, timeout: float,
                     owner: Attempt, ticker: TickClock) -> InFlight:
        """Send the first attempt of a planned read without a coroutine (caller holds
        ``lock`` and checked ``can_send_planned``); ``owner`` hears how it ended, and
        the running loop's ``ticker`` expires it.

        Sending fails as ``execute`` would: the attempt ends at once with the error,
        for ``execute(..., sent=attempt)`` to classify.
        """
        ctx = self.ctx
        attempt = InFlight(owner, ctx)
        try:
            self._send(ctx, request, tail, attempt)
        except Exception as err:  # handed to execute, which classifies it
            attempt.set_exception(err)
            return attempt
        ticker.expire(attempt, timeout)
        return attempt

    async def read(  # noqa: PLR0917  (positional like the protocol's fields)
        self, function_code: int, address: int, count: int, unit: int, timeout: float,
        retries: int,
    ) -> Sequence[int]:
        """Registers (FC03/04) or bits (FC01/02) of one read built for the occasion."""
        request = _REQUESTS[function_code](address=address, count=count, dev_id=unit)
        return registers_of(await self.execute(request, timeout, retries), function_code, count)

    async def write_register(self, address: int, value: int, unit: int, timeout: float) -> None:
        await self.execute(
            pdu_reg.WriteSingleRegisterRequest(address=address, registers=[value], dev_id=unit),
            timeout, 0,
        )

    async def write_registers(
        self, address: int, values: list[int], unit: int, timeout: float
    ) -> None:
        await self.execute(
            pdu_reg.WriteMultipleRegistersRequest(address=address, registers=values,
                                                  dev_id=unit),
            timeout, 0,
        )

    async def write_coil(self, address: int, value: bool, unit: int, timeout: float) -> None:
        await self.execute(
            pdu_bit.WriteSingleCoilRequest(address=address, bits=[value], dev_id=unit),
            timeout, 0,
        )


def registers_of(response: ModbusPDU, function_code: int, count: int) -> Sequence[int]:
    """The registers or bits of a read reply, checked against what was asked."""
    if function_code in (3, 4):
        regs: Sequence[int] = response.registers
        if len(regs) != count or response.function_code != function_code:
            raise BusError("garbled", f"reply holds {len(regs)} registers, asked {count}")
        return regs
    bits: Sequence[bool] = response.bits
    if len(bits) < count or response.function_code != function_code:
        raise BusError("garbled", f"reply holds {len(bits)} bits, asked {count}")
    return bits


def prebuilt_request(function_code: int, address: int, count: int, unit: int) -> ModbusPDU:
    """A read PDU built once per planned read and reused by every poll."""
    pdu: ModbusPDU = _REQUESTS[function_code](address=address, count=count, dev_id=unit)
    return pdu
