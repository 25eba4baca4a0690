"""Every data type in every byte order, over a real Modbus TCP socket.

The expected registers are computed here with ``struct`` (independently of the
driver's and simulator's encoder) and checked on the wire with a plain pymodbus
client, then the driver's decoded values are checked against the values set.
"""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymodbus.client import AsyncModbusTcpClient

from monitor.config.devices import ByteOrder, ChannelSpec, DataType
from monitor.drivers.modbus import ModbusDriver
from monitor.drivers.modbus.decode import ChannelDecoder, encode
from monitor.model import Quality
from simulators import World
from simulators.modbus.devices import SimulatedDevice
from tests.fixtures.modbus_sim import Collector, FixedModel, binding, profile, tcp_connection

FORMATS = {DataType.U16: ">H", DataType.S16: ">h", DataType.U32: ">I", DataType.S32: ">i",
           DataType.F32: ">f", DataType.U64: ">Q"}
VALUES = {DataType.U16: 0xBEEF, DataType.S16: -12345, DataType.U32: 0x12345678,
          DataType.S32: -123456789, DataType.F32: 30.56, DataType.U64: 0x0123456789ABCDEF}


def wire_registers(value: float, dtype: DataType, order: ByteOrder) -> list[int]:
    """Reference: the value's big-endian bytes ABCD.. rearranged as the order names them."""
    data = struct.pack(FORMATS[dtype], value)
    if order in (ByteOrder.BADC, ByteOrder.DCBA):
        data = b"".join(data[i : i + 2][::-1] for i in range(0, len(data), 2))
    if order in (ByteOrder.CDAB, ByteOrder.DCBA):
        words = [data[i : i + 2] for i in range(0, len(data), 2)]
        data = b"".join(reversed(words))
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def test_reference_matches_the_vendor_examples() -> None:
    # Vaisala HMT330 manual: 30.56 %RH = 0x41F47AE1, sent least significant word first
    assert wire_registers(30.56, DataType.F32, ByteOrder.CDAB) == [0x7AE1, 0x41F4]
    # E+E: 26.953624 degC sent as A1 06 41 D7 (byte pairs 1,2 and 3,4 inverted)
    assert wire_registers(26.953624, DataType.F32, ByteOrder.CDAB) == [0xA106, 0x41D7]


def _all_types_profile() -> tuple[dict[str, object], dict[str, float]]:
    channels, values = [], {}
    address = 0
    for dtype, value in VALUES.items():
        for order in ByteOrder:
            name = f"{dtype.value}_{order.value}"
            channels.append({"name": name, "quantity": name, "unit": "1", "address": address,
                             "type": dtype.value, "byte_order": order.value})
            values[name] = value
            address += 4
    body = {"kind": "generic", "family": "generic", "source": "test", "channels": channels,
            "max_gap": 3}
    return body, values


async def test_every_type_and_order_over_tcp(modbus_sim, sim_world: World) -> None:
    body, values = _all_types_profile()
    prof = profile(body)
    sim = await modbus_sim([SimulatedDevice("dev", 7, prof, FixedModel("dev", sim_world, values))])

    client = AsyncModbusTcpClient("127.0.0.1", port=sim.port, timeout=2, retries=0)
    await client.connect()
    try:
        for ch in prof.channels:
            reply = await client.read_holding_registers(ch.address, count=ch.register_count,
                                                        device_id=7)
            assert reply.registers == wire_registers(values[ch.name], ch.type, ch.byte_order), (
                ch.name)
        # pymodbus' own converter agrees for the plain and word-swapped orders
        reply = await client.read_holding_registers(
            next(c.address for c in prof.channels if c.name == "f32_CDAB"), count=2, device_id=7)
        decoded = client.convert_from_registers(reply.registers, client.DATATYPE.FLOAT32,
                                                word_order="little")
        assert decoded == pytest.approx(30.56, rel=1e-6)
    finally:
        client.close()

    sim.reset_counts()
    out = Collector()
    driver = ModbusDriver(tcp_connection(sim.port), [binding("dev", prof, 7)], out)
    await driver.poll_once()
    driver.close()
    assert sim.requests[(7, 3)] == 1  # 24 channels, 96 registers with gaps of 2-3: one read
    for ch in prof.channels:
        reading = out.last(f"dev/{ch.name}")
        assert reading.quality is Quality.GOOD, ch.name
        expected = struct.unpack(">f", struct.pack(">f", 30.56))[0] if ch.type is DataType.F32 \
            else float(values[ch.name])
        assert reading.value == expected, ch.name


async def test_scale_offset_bits_sentinels_nan_and_range(modbus_sim, sim_world: World) -> None:
    body = {"kind": "generic", "family": "generic", "source": "test", "channels": [
        {"name": "t", "quantity": "t", "unit": "degC", "address": 0, "type": "s16",
         "scale": 0.01, "offset": -5.0, "range": [-40, 60]},
        {"name": "hot", "quantity": "hot", "unit": "degC", "address": 1, "type": "s16",
         "scale": 0.1, "range": [-40, 60]},
        {"name": "lost", "quantity": "lost", "unit": "Pa", "address": 2, "type": "u16",
         "nan_values": [0xFFFF]},
        {"name": "nan", "quantity": "nan", "unit": "%", "address": 3, "type": "f32"},
        {"name": "door", "quantity": "door", "unit": "open", "address": 5, "bit": 3},
        {"name": "alarm", "quantity": "alarm", "unit": "on", "address": 5, "bit": 4},
        {"name": "coil", "quantity": "coil", "unit": "on", "table": "coil", "address": 10,
         "type": "bool"},
        {"name": "di", "quantity": "di", "unit": "on", "table": "discrete", "address": 3,
         "type": "bool"},
    ]}
    prof = profile(body)
    model = FixedModel("dev", sim_world, {"t": 21.37, "hot": 99.5, "lost": math.nan,
                                           "nan": math.nan, "door": 1, "alarm": 0, "coil": 1,
                                           "di": 1})
    sim = await modbus_sim([SimulatedDevice("dev", 1, prof, model)])
    out = Collector()
    driver = ModbusDriver(tcp_connection(sim.port), [binding("dev", prof)], out)
    await driver.poll_once()
    driver.close()

    t = out.last("dev/t")
    assert t.quality is Quality.GOOD
    assert t.value == pytest.approx(21.37)
    assert t.raw == 2637
    hot = out.last("dev/hot")
    assert hot.quality is Quality.OUT_OF_RANGE
    assert hot.value == pytest.approx(99.5)
    assert hot.detail == "above range"
    lost = out.last("dev/lost")
    assert lost.quality is Quality.INVALID
    assert lost.value is None
    assert "sentinel" in lost.detail
    nan = out.last("dev/nan")
    assert nan.quality is Quality.INVALID
    assert nan.value is None
    assert nan.detail == "NaN"
    assert out.last("dev/door").value == 1.0
    assert out.last("dev/alarm").value == 0.0
    assert out.last("dev/coil").value == 1.0
    assert out.last("dev/di").value == 1.0
    status = driver.status["dev"]
    assert status.errors["invalid"] == 2
    assert status.errors["out_of_range"] == 1
    assert status.available
    # FC01, FC02 and one coalesced FC03
    assert sim.requests[(1, 1)] == 1
    assert sim.requests[(1, 2)] == 1
    assert sim.requests[(1, 3)] == 1


_INT_RANGES = {DataType.U16: (0, 0xFFFF), DataType.S16: (-0x8000, 0x7FFF),
               DataType.U32: (0, 0xFFFFFFFF), DataType.S32: (-0x80000000, 0x7FFFFFFF),
               DataType.U64: (0, (1 << 64) - 1)}


@st.composite
def typed_values(draw: st.DrawFn) -> tuple[DataType, ByteOrder, float]:
    dtype = draw(st.sampled_from(list(FORMATS)))
    order = draw(st.sampled_from(list(ByteOrder)))
    if dtype is DataType.F32:
        value = draw(st.floats(width=32, allow_nan=False, allow_infinity=False))
    else:
        lo, hi = _INT_RANGES[dtype]
        value = draw(st.integers(lo, hi))
    return dtype, order, value


@settings(max_examples=300, deadline=None)
@given(typed_values())
def test_decoder_inverts_the_reference_encoding(case: tuple[DataType, ByteOrder, float]) -> None:
    dtype, order, value = case
    regs = wire_registers(value, dtype, order)
    assert encode(value, dtype, order) == regs
    spec = ChannelSpec(name="x", quantity="x", unit="1", address=0, type=dtype, byte_order=order)
    reading = ChannelDecoder("d", spec).decode([0, *regs], 1, 0)
    assert reading.quality is Quality.GOOD
    assert reading.value == float(value)
